// What the installed AWS SDK for JavaScript v3 says about each operation's modeled errors.
//
// The SDK is generated from AWS's Smithy model and carries it in two places we read here:
// - the exported error schemas (`IdempotencyConflictException$`): their traits hold Smithy's `error`
//   ("client" | "server") and, where the model has one, `httpError` (the HTTP status);
// - the generated command typings (`dist-types/commands/<Op>Command.d.ts`): one `@throws` line per error
//   the model lists for that operation. The runtime operation schemas do not carry that list.
// botocore's JSON model drops `httpError`, so the statuses can only come from here.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);

const OPERATION_SCHEMA = 9;
const ERROR_SCHEMA = -3;
const THROWS = /@throws \{@link (\w+)\} \((client|server) fault\)/g;

function packageRoot(name) {
  // main is <root>/dist-cjs/index.js
  return path.dirname(path.dirname(require.resolve(name)));
}

// Smithy: without an httpError trait, a client error is answered with 400 and a server error with 500.
export function modelStatus(traits) {
  return traits.httpError ?? (traits.error === "server" ? 500 : 400);
}

export function errorTraits(sdk, errorName) {
  const schema = sdk[`${errorName}$`];
  if (!Array.isArray(schema) || schema[0] !== ERROR_SCHEMA) {
    throw new Error(`the SDK exports no error schema for ${errorName}`);
  }
  return schema[3];
}

export function operationNames(sdk) {
  return Object.values(sdk)
    .filter((value) => Array.isArray(value) && value[0] === OPERATION_SCHEMA)
    .map((schema) => schema[2])
    .sort();
}

// [{operation, errors: [{name, fault, typingFault, httpError, status}]}] for one client package.
export function describeModel(packageName, sdk) {
  const commands = path.join(packageRoot(packageName), "dist-types", "commands");
  return operationNames(sdk).map((operation) => {
    const typing = readFileSync(path.join(commands, `${operation}Command.d.ts`), "utf8");
    const errors = [...typing.matchAll(THROWS)].map(([, name, typingFault]) => {
      const traits = errorTraits(sdk, name);
      return {
        name,
        fault: traits.error,
        typingFault,
        httpError: traits.httpError ?? null,
        status: modelStatus(traits),
      };
    });
    return { operation, errors };
  });
}
