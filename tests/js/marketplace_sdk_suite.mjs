// Drives the AWS Marketplace emulator with the AWS SDK for JavaScript v3, an independent client.
//
//   node tests/js/marketplace_sdk_suite.mjs http://127.0.0.1:PORT
//
// Prints one JSON line per item: {"kind": "model", ...} per operation (what the SDK's model says), then
// {"kind": "case", "id": "<Operation>/<Success|ErrorName>/<protocol>", "checks": [{what, expected, actual}]}
// per case. It does not judge: tests/emulator/test_js_sdk.py asserts every check. Each case starts from an
// empty emulator world (POST /admin/reset) and builds what it needs through the admin API.

import * as entitlementSdk from "@aws-sdk/client-marketplace-entitlement-service";
import * as meteringSdk from "@aws-sdk/client-marketplace-metering";
import { AwsSmithyRpcV2CborProtocol } from "@aws-sdk/core/protocols";

import { EmulatorAdmin } from "./emulator_admin.mjs";
import { describeModel, errorTraits, modelStatus } from "./sdk_model.mjs";
import { check, entitlementCases, meteringCases } from "./suite_cases.mjs";

const url = process.argv[2];
if (!url) {
  console.error("usage: node marketplace_sdk_suite.mjs <emulator url>");
  process.exit(2);
}

const admin = new EmulatorAdmin(url);

// Dummy credentials: the emulator reads only the access key id (quota key, buyer account) and the scope.
const SECRET = "emulator-secret";
const SELLER_KEY = "AKIAJSSDKSUITESELLER";
const SERVICES = {
  metering: {
    packageName: "@aws-sdk/client-marketplace-metering",
    sdk: meteringSdk,
    Client: meteringSdk.MarketplaceMeteringClient,
    protocols: ["awsJson1_1"],
  },
  entitlement: {
    packageName: "@aws-sdk/client-marketplace-entitlement-service",
    sdk: entitlementSdk,
    Client: entitlementSdk.MarketplaceEntitlementServiceClient,
    // The SDK's default is AWS JSON 1.1; the service model also offers Smithy RPC v2 CBOR, which the same
    // client speaks when given the AWS SDK's CBOR protocol.
    protocols: ["awsJson1_1", "rpcv2Cbor"],
  },
};

function emit(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

// Records what went over the wire: the signed request and the raw response, before deserialization.
function recordWire(client, wire) {
  client.middlewareStack.add(
    (next) => async (args) => {
      wire.requestContentType = args.request.headers["content-type"] ?? null;
      wire.requestSmithyProtocol = args.request.headers["smithy-protocol"] ?? null;
      const result = await next(args);
      wire.status = result.response.statusCode;
      wire.responseContentType = result.response.headers["content-type"] ?? null;
      return result;
    },
    { step: "deserialize", priority: "low", name: "emulatorSuiteWireRecorder" },
  );
}

function makeClient(service, protocol, wire, { accessKeyId = SELLER_KEY, region = "us-east-1" } = {}) {
  const config = {
    endpoint: url,
    region,
    credentials: { accessKeyId, secretAccessKey: SECRET },
    // One attempt: the case observes the emulator's answer, not the SDK's retries.
    maxAttempts: 1,
  };
  if (protocol === "rpcv2Cbor") {
    config.protocol = AwsSmithyRpcV2CborProtocol;
  }
  const client = new SERVICES[service].Client(config);
  recordWire(client, wire);
  return client;
}

const EXPECTED_CONTENT_TYPE = { awsJson1_1: "application/x-amz-json-1.1", rpcv2Cbor: "application/cbor" };

function wireChecks(protocol, wire, status) {
  return [
    check("request content-type", EXPECTED_CONTENT_TYPE[protocol], wire.requestContentType),
    check("request smithy-protocol", protocol === "rpcv2Cbor" ? "rpc-v2-cbor" : null, wire.requestSmithyProtocol),
    check("response content-type", EXPECTED_CONTENT_TYPE[protocol], wire.responseContentType),
    check("raw response status", status, wire.status ?? null),
  ];
}

function errorChecks(sdk, expected, error) {
  const traits = errorTraits(sdk, expected);
  const status = modelStatus(traits);
  return [
    check("error name", expected, error?.name ?? null),
    check("instanceof the exported exception class", true, error instanceof sdk[expected]),
    check("$fault", traits.error, error?.$fault ?? null),
    check("$metadata.httpStatusCode (model status)", status, error?.$metadata?.httpStatusCode ?? null),
  ];
}

async function runCase(service, protocol, definition) {
  const { sdk } = SERVICES[service];
  const id = `${definition.operation}/${definition.expect}/${protocol}`;
  const provoked = definition.provoked ?? "real";
  const wire = {};
  let client;
  const clientFor = (options) => {
    client?.destroy();
    client = makeClient(service, protocol, wire, options);
    return client;
  };
  try {
    await admin.reset();
    const world = await definition.setup(admin);
    const send = (input, options) => clientFor(options).send(new sdk[`${definition.operation}Command`](input));
    if (definition.expect === "Success") {
      const output = await definition.call(send, world);
      const checks = await definition.verify(output, world, admin);
      checks.push(check("$metadata.httpStatusCode", 200, output.$metadata.httpStatusCode));
      emit({ kind: "case", id, provoked, checks: [...checks, ...wireChecks(protocol, wire, 200)] });
      return;
    }
    let error = null;
    try {
      await definition.call(send, world);
    } catch (caught) {
      error = caught;
    }
    const status = modelStatus(errorTraits(sdk, definition.expect));
    emit({
      kind: "case",
      id,
      provoked,
      message: error?.message ?? null,
      checks: [...errorChecks(sdk, definition.expect, error), ...wireChecks(protocol, wire, status)],
    });
  } catch (harnessError) {
    emit({ kind: "case", id, provoked, harness_error: String(harnessError?.stack ?? harnessError), checks: [] });
  } finally {
    client?.destroy();
  }
}

for (const [service, { packageName, sdk }] of Object.entries(SERVICES)) {
  for (const entry of describeModel(packageName, sdk)) {
    emit({ kind: "model", service, ...entry });
  }
}

let count = 0;
const suites = { metering: meteringCases, entitlement: entitlementCases };
for (const [service, cases] of Object.entries(suites)) {
  for (const protocol of SERVICES[service].protocols) {
    for (const definition of cases()) {
      await runCase(service, protocol, definition);
      count += 1;
    }
  }
}
emit({ kind: "done", cases: count });
