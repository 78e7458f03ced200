// The cases: each operation succeeding, and each error the model lists for it.
//
// A case is {operation, expect: "Success" | ErrorName, provoked?, setup(admin) -> world,
// call(send, world), verify?(output, world, admin) -> checks}. Errors are provoked for real (the
// condition AWS answers them for) wherever the emulator models that condition; only
// InternalServiceErrorException has no such condition, so it is queued through PUT /admin/faults.

const LICENSE_PRODUCT = "js-license-product";
const LEGACY_PRODUCT = "js-legacy-product";
const CONTRACT_PRODUCT = "js-contract-product";
const DIMENSIONS = ["api_calls", "storage_gb"];
// The buyer's account; as an access key id it also signs the buyer-side calls (MeterUsage, RegisterUsage):
// the emulator takes a 12-digit access key id as the caller's account.
const BUYER = "111122223333";
const STRANGER = "999988887777";
const UNKNOWN_LICENSE = "arn:aws:license-manager::294406891311:license:l-00000000000000000000000000000000";
const HOUR_MS = 3600 * 1000;
const BUYER_SIDE = { accessKeyId: BUYER };
const DISABLED_REGION = "eu-west-1";

const hoursAgo = (hours) => new Date(Date.now() - hours * HOUR_MS);
const isoDate = (value) => (value instanceof Date ? value.toISOString() : null);

// One observation of a case; tests/emulator/test_js_sdk.py asserts expected == actual.
export const check = (what, expected, actual) => ({ what, expected, actual });

async function licensed(admin) {
  await admin.product(LICENSE_PRODUCT, DIMENSIONS);
  return admin.subscribe(LICENSE_PRODUCT, BUYER);
}

async function licensedWithConfig(admin, config) {
  const sub = await licensed(admin);
  await admin.config(config);
  return sub;
}

async function licensedWithQueuedError(admin, operation) {
  const sub = await licensed(admin);
  await admin.queueError(operation, "InternalServiceErrorException");
  return sub;
}

const noOperationQuota = (operation) => ({ operation_quotas: { [operation]: { per_second: 0, burst: 0 } } });

function usage(sub, fields = {}) {
  return {
    Timestamp: new Date(),
    Dimension: "api_calls",
    CustomerAWSAccountId: sub.account_id,
    LicenseArn: sub.license_arn,
    Quantity: 3,
    ...fields,
  };
}

const repeatedTagKey = [
  { AllocatedUsageQuantity: 3, Tags: [{ Key: "team", Value: "a" }, { Key: "team", Value: "b" }] },
];
const allocationsShortOfTheQuantity = [{ AllocatedUsageQuantity: 2, Tags: [{ Key: "team", Value: "a" }] }];

function batch(expect, setup, records, options = {}) {
  return {
    operation: "BatchMeterUsage",
    expect,
    setup,
    call: (send, sub) => send({ UsageRecords: records(sub), ...options.input }, options.client),
    ...options.extra,
  };
}

function batchMeterUsageCases() {
  return [
    batch("Success", licensed, (sub) => [usage(sub)], {
      extra: {
        verify: async (output, sub, admin) => {
          const [entry] = await admin.ledger();
          const [result] = output.Results ?? [];
          return [
            check("Results[0].Status", "Success", result?.Status),
            check("Results[0].MeteringRecordId", entry?.metering_record_id, result?.MeteringRecordId),
            check("Results[0].UsageRecord.LicenseArn", sub.license_arn, result?.UsageRecord?.LicenseArn),
            check("ledger quantity", "3", entry?.quantity),
            check("UnprocessedRecords", 0, output.UnprocessedRecords?.length),
          ];
        },
      },
    }),
    batch(
      "InvalidProductCodeException",
      licensed,
      () => [{ Timestamp: new Date(), Dimension: "api_calls", CustomerIdentifier: "some-customer", Quantity: 1 }],
      { input: { ProductCode: "no-such-product" } },
    ),
    batch("InvalidUsageDimensionException", licensed, (sub) => [usage(sub, { Dimension: "no_such_dimension" })]),
    batch("InvalidTagException", licensed, (sub) => [usage(sub, { UsageAllocations: repeatedTagKey })]),
    batch("InvalidUsageAllocationsException", licensed, (sub) => [
      usage(sub, { UsageAllocations: allocationsShortOfTheQuantity }),
    ]),
    batch(
      "InvalidCustomerIdentifierException",
      (admin) => admin.product(LEGACY_PRODUCT, DIMENSIONS, { customer_mode: "legacy" }),
      () => [{ Timestamp: new Date(), Dimension: "api_calls", CustomerIdentifier: "no-such-customer", Quantity: 1 }],
      { input: { ProductCode: LEGACY_PRODUCT } },
    ),
    batch("TimestampOutOfBoundsException", licensed, (sub) => [usage(sub, { Timestamp: hoursAgo(25) })]),
    batch(
      "ThrottlingException",
      (admin) => licensedWithConfig(admin, { quota_per_second: 0, quota_burst: 0 }),
      (sub) => [usage(sub)],
    ),
    batch(
      "DisabledApiException",
      (admin) => licensedWithConfig(admin, { disabled_regions: [DISABLED_REGION] }),
      (sub) => [usage(sub)],
      { client: { region: DISABLED_REGION } },
    ),
    batch("InvalidLicenseException", licensed, (sub) => [usage(sub, { LicenseArn: UNKNOWN_LICENSE })]),
    batch(
      "InternalServiceErrorException",
      (admin) => licensedWithQueuedError(admin, "BatchMeterUsage"),
      (sub) => [usage(sub)],
      { extra: { provoked: "queued" } },
    ),
  ];
}

function meterInput(fields = {}) {
  return {
    ProductCode: LICENSE_PRODUCT,
    Timestamp: new Date(),
    UsageDimension: "api_calls",
    UsageQuantity: 3,
    ...fields,
  };
}

function meter(expect, setup, fields = {}, options = {}) {
  return {
    operation: "MeterUsage",
    expect,
    setup,
    call: (send) => send(meterInput(fields), { ...BUYER_SIDE, ...options.client }),
    ...options.extra,
  };
}

function meterUsageCases() {
  const sameHour = new Date();
  return [
    meter("Success", licensed, {}, {
      extra: {
        verify: async (output, sub, admin) => {
          const [entry] = await admin.ledger();
          return [
            check("MeteringRecordId", entry?.metering_record_id, output.MeteringRecordId),
            check("ledger account", sub.account_id, entry?.customer_aws_account_id),
          ];
        },
      },
    }),
    meter("InvalidProductCodeException", licensed, { ProductCode: "no-such-product" }),
    meter("InvalidUsageDimensionException", licensed, { UsageDimension: "no_such_dimension" }),
    meter("InvalidTagException", licensed, { UsageAllocations: repeatedTagKey }),
    meter("InvalidUsageAllocationsException", licensed, { UsageAllocations: allocationsShortOfTheQuantity }),
    meter("InvalidEndpointRegionException", licensed, {}, { client: { region: "us-west-2" } }),
    meter("TimestampOutOfBoundsException", licensed, { Timestamp: hoursAgo(7) }),
    {
      operation: "MeterUsage",
      expect: "DuplicateRequestException",
      setup: licensed,
      call: async (send) => {
        await send(meterInput({ Timestamp: sameHour, UsageQuantity: 1 }), BUYER_SIDE);
        return send(meterInput({ Timestamp: sameHour, UsageQuantity: 2 }), BUYER_SIDE);
      },
    },
    {
      operation: "MeterUsage",
      expect: "IdempotencyConflictException",
      setup: licensed,
      call: async (send) => {
        await send(meterInput({ ClientToken: "js-token-1", UsageDimension: "api_calls" }), BUYER_SIDE);
        return send(meterInput({ ClientToken: "js-token-1", UsageDimension: "storage_gb" }), BUYER_SIDE);
      },
    },
    meter("ThrottlingException", (admin) => licensedWithConfig(admin, noOperationQuota("MeterUsage"))),
    meter("CustomerNotEntitledException", licensed, {}, { client: { accessKeyId: STRANGER } }),
    meter("InternalServiceErrorException", (admin) => licensedWithQueuedError(admin, "MeterUsage"), {}, {
      extra: { provoked: "queued" },
    }),
  ];
}

function decodeJwtPayload(jwt) {
  const [, payload] = String(jwt).split(".");
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
}

function register(expect, setup, fields = {}, options = {}) {
  return {
    operation: "RegisterUsage",
    expect,
    setup,
    call: (send) => {
      const input = { ProductCode: LICENSE_PRODUCT, PublicKeyVersion: 1, Nonce: "js-nonce", ...fields };
      return send(input, { ...BUYER_SIDE, ...options.client });
    },
    ...options.extra,
  };
}

function registerUsageCases() {
  return [
    register("Success", licensed, {}, {
      extra: {
        verify: async (output, sub) => {
          const claims = decodeJwtPayload(output.Signature);
          return [
            check("signed productCode", LICENSE_PRODUCT, claims.productCode),
            check("signed customerAWSAccountId", sub.account_id, claims.customerAWSAccountId),
            check("signed nonce", "js-nonce", claims.nonce),
          ];
        },
      },
    }),
    register("InvalidProductCodeException", licensed, { ProductCode: "no-such-product" }),
    register("InvalidRegionException", licensed, {}, { client: { region: "us-west-2" } }),
    register("InvalidPublicKeyVersionException", licensed, { PublicKeyVersion: 2 }),
    register("PlatformNotSupportedException", (admin) => licensedWithConfig(admin, { caller_platform: "ec2" })),
    register("CustomerNotEntitledException", licensed, {}, { client: { accessKeyId: STRANGER } }),
    register("ThrottlingException", (admin) => licensedWithConfig(admin, noOperationQuota("RegisterUsage"))),
    register("InternalServiceErrorException", (admin) => licensedWithQueuedError(admin, "RegisterUsage"), {}, {
      extra: { provoked: "queued" },
    }),
    register(
      "DisabledApiException",
      (admin) => licensedWithConfig(admin, { disabled_regions: [DISABLED_REGION] }),
      {},
      { client: { region: DISABLED_REGION } },
    ),
  ];
}

function resolve(expect, setup, token, options = {}) {
  return {
    operation: "ResolveCustomer",
    expect,
    setup,
    call: (send, sub) => send({ RegistrationToken: token(sub) }, options.client),
    ...options.extra,
  };
}

function resolveCustomerCases() {
  const theirs = (sub) => sub.registration_token;
  return [
    resolve("Success", licensed, theirs, {
      extra: {
        verify: async (output, sub) => [
          check("CustomerAWSAccountId", sub.account_id, output.CustomerAWSAccountId),
          check("LicenseArn", sub.license_arn, output.LicenseArn),
          check("ProductCode", LICENSE_PRODUCT, output.ProductCode),
          check("CustomerIdentifier (licence-mode product)", null, output.CustomerIdentifier ?? null),
        ],
      },
    }),
    resolve("InvalidTokenException", licensed, () => "not-a-registration-token"),
    resolve(
      "ExpiredTokenException",
      async (admin) => {
        const sub = await licensed(admin);
        await admin.advanceClock(Date.parse(sub.token_expires_at) / 1000 - Date.now() / 1000 + 60);
        return sub;
      },
      theirs,
    ),
    resolve("ThrottlingException", (admin) => licensedWithConfig(admin, noOperationQuota("ResolveCustomer")), theirs),
    resolve("InternalServiceErrorException", (admin) => licensedWithQueuedError(admin, "ResolveCustomer"), theirs, {
      extra: { provoked: "queued" },
    }),
    resolve(
      "DisabledApiException",
      (admin) => licensedWithConfig(admin, { disabled_regions: [DISABLED_REGION] }),
      theirs,
      { client: { region: DISABLED_REGION } },
    ),
  ];
}

export function meteringCases() {
  return [...batchMeterUsageCases(), ...meterUsageCases(), ...registerUsageCases(), ...resolveCustomerCases()];
}

// One entitlement of each value type, so every member of the Value union crosses the wire.
const ENTITLEMENTS = [
  { dimension: "seats", value: 20, expiration_date: "2030-01-01T00:00:00Z" },
  { dimension: "tier", value: "gold" },
  { dimension: "ha", value: true },
  { dimension: "ratio", value: 1.5 },
];
const EXPECTED_VALUES = {
  ha: { BooleanValue: true },
  ratio: { DoubleValue: 1.5 },
  seats: { IntegerValue: 20 },
  tier: { StringValue: "gold" },
};

async function contract(admin) {
  await admin.product(CONTRACT_PRODUCT, ENTITLEMENTS.map((e) => e.dimension), { pricing: "contract" });
  // Every third page empty but with a NextToken, as AWS documents; the client must keep paging.
  await admin.config({ entitlement_empty_page_every: 3 });
  return admin.subscribe(CONTRACT_PRODUCT, BUYER, { entitlements: ENTITLEMENTS });
}

async function allPages(send) {
  const entitlements = [];
  let emptyPagesWithToken = 0;
  let last;
  let NextToken;
  do {
    last = await send({ ProductCode: CONTRACT_PRODUCT, MaxResults: 1, NextToken });
    entitlements.push(...(last.Entitlements ?? []));
    if ((last.Entitlements ?? []).length === 0 && last.NextToken) emptyPagesWithToken += 1;
    NextToken = last.NextToken;
  } while (NextToken);
  return Object.assign(last, { collected: entitlements, emptyPagesWithToken });
}

function entitlementChecks(output, sub) {
  const byDimension = Object.fromEntries(output.collected.map((e) => [e.Dimension, e]));
  const values = Object.fromEntries(output.collected.map((e) => [e.Dimension, e.Value]));
  return [
    check("entitlements collected over all pages", ENTITLEMENTS.length, output.collected.length),
    check("values by dimension", EXPECTED_VALUES, values),
    check("LicenseArn", sub.license_arn, byDimension.seats?.LicenseArn),
    check("CustomerAWSAccountId", sub.account_id, byDimension.seats?.CustomerAWSAccountId),
    check("ExpirationDate (a Date)", "2030-01-01T00:00:00.000Z", isoDate(byDimension.seats?.ExpirationDate)),
    check("empty pages that carried a NextToken", true, output.emptyPagesWithToken > 0),
  ];
}

export function entitlementCases() {
  const getEntitlements = (send, productCode = CONTRACT_PRODUCT) => send({ ProductCode: productCode });
  return [
    { operation: "GetEntitlements", expect: "Success", setup: contract, call: allPages, verify: entitlementChecks },
    {
      operation: "GetEntitlements",
      expect: "InvalidParameterException",
      setup: contract,
      call: (send) => getEntitlements(send, "no-such-product"),
    },
    {
      operation: "GetEntitlements",
      expect: "ThrottlingException",
      setup: async (admin) => {
        const sub = await contract(admin);
        await admin.config(noOperationQuota("GetEntitlements"));
        return sub;
      },
      call: getEntitlements,
    },
    {
      operation: "GetEntitlements",
      expect: "InternalServiceErrorException",
      provoked: "queued",
      setup: async (admin) => {
        const sub = await contract(admin);
        await admin.queueError("GetEntitlements", "InternalServiceErrorException");
        return sub;
      },
      call: getEntitlements,
    },
  ];
}
