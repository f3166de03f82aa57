import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020';

/** `/path/to/field: what is wrong`, for the first error ajv found (the 400's message). */
function describeSchemaError(error: ErrorObject): string {
  const where = error.instancePath || '(root)';
  const params = error.params as Record<string, unknown>;
  const detail =
    typeof params.additionalProperty === 'string'
      ? ` '${params.additionalProperty}'`
      : Array.isArray(params.allowedValues)
        ? `: ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
        : '';
  return `${where}: ${error.message ?? 'is invalid'}${detail}`;
}

/** Why the last call of `validate` failed: its first error described, or a generic message. */
export function schemaProblem(validate: ValidateFunction): string {
  const first = validate.errors?.[0];
  return first ? describeSchemaError(first) : 'does not match the report schema';
}
