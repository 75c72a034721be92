// The JSON Schema (draft-07) of the `policies` section (CONTRACT.md "Config file"), built from the
// same lists the policy and masking validators use, so the editor's inline checks and the
// gateway's agree. The schema catches shapes, names and enumerations as the user types;
// parsePolicy stays the authority on everything (savePolicies and validatePolicies run it).

import { DETECTORS, STRATEGIES } from '../masking/rules.js';
import { ACTIONS } from '../policy/policy.js';
import { STATEMENT_KINDS } from '../policy/types.js';

const NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$';
const DURATION_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h)?\\s*$';

/** Values matched case-insensitively by the validators: both spellings. */
function anyCase(values: readonly string[]): string[] {
  return [...new Set([...values, ...values.map((v) => v.toUpperCase())])];
}

/** One value or a non-empty list of them. */
function oneOrMany(item: Record<string, unknown>, description: string): Record<string, unknown> {
  return {
    description,
    anyOf: [item, { type: 'array', minItems: 1, items: item }],
  };
}

export function policiesSchema(): Record<string, unknown> {
  const names = (description: string) => oneOrMany({ type: 'string', minLength: 1 }, description);
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'Bastion policies',
    description:
      'Policies by name. An identity uses `default` unless it names another; a policy left empty is the built-in default.',
    type: ['object', 'null'],
    propertyNames: { pattern: NAME_PATTERN },
    additionalProperties: { $ref: '#/definitions/policy' },
    definitions: {
      policy: {
        type: ['object', 'null'],
        additionalProperties: false,
        properties: {
          read_only: {
            type: 'boolean',
            description: 'true: every write is blocked, whatever the transaction state',
          },
          read_only_functions: names('With read_only: functions (globs) known not to write'),
          approval_timeout: {
            type: ['string', 'number'],
            pattern: DURATION_PATTERN,
            description: 'How long a held statement waits for a decision, e.g. 120s, 5m',
          },
          guardrails: {
            type: ['array', 'null'],
            description: 'Ordered: each statement takes the action of the first guardrail that matches it',
            items: { $ref: '#/definitions/guardrail' },
          },
          masking: {
            type: ['array', 'null'],
            description: 'Masking rules; omitted = the built-in detectors, an empty list = no masking',
            items: { $ref: '#/definitions/maskingRule' },
          },
          classify: {
            type: 'boolean',
            description:
              'Automatic PII column classification adds auto-<detector> column rules; default: on when masking is omitted',
          },
        },
      },
      guardrail: {
        anyOf: [
          { const: 'default', description: 'The built-in guardrails, at this place' },
          {
            type: 'object',
            required: ['name', 'match', 'action'],
            additionalProperties: false,
            properties: {
              name: { type: 'string', pattern: NAME_PATTERN },
              match: { $ref: '#/definitions/match' },
              action: { enum: [...ACTIONS] },
              reason: { type: 'string' },
            },
          },
        ],
      },
      match: {
        type: 'object',
        additionalProperties: false,
        properties: {
          kind: oneOrMany({ enum: anyCase(STATEMENT_KINDS) }, 'Statement kinds'),
          relation: names('Relation name globs: public.customers, audit_*'),
          where: { enum: ['absent', 'present'] },
          function: names('Function name globs: pg_read_file, dblink*'),
          identity: names('Identity name globs'),
          copy: oneOrMany({ enum: ['client', 'file', 'program'] }, 'COPY targets'),
          writes: { type: 'boolean' },
        },
      },
      maskingRule: {
        anyOf: [
          { const: 'default', description: 'The built-in detector rule, at this place' },
          {
            type: 'object',
            required: ['name'],
            additionalProperties: false,
            properties: {
              name: { type: 'string', pattern: NAME_PATTERN },
              columns: names('Columns: schema.table.column, or table.column'),
              detect: oneOrMany({ enum: anyCase(DETECTORS) }, 'Value detectors'),
              strategy: { enum: [...STRATEGIES] },
            },
            oneOf: [
              { required: ['columns'], not: { required: ['detect'] } },
              { required: ['detect'], not: { required: ['columns'] } },
            ],
          },
        ],
      },
    },
  };
}
