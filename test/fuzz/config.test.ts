// Fuzzing config files: whatever text bastion.yaml holds, loading it gives a config or one
// ConfigError line naming the file, quickly (no alias bombs, no deep recursion), and never echoes
// a secret from the environment.

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${NAME} references are the config syntax under test
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ConfigError, parseConfig } from '../../proxy/config/load.js';
import { corpus, fuzz } from './harness.js';

const SECRET = 'fuzz-secret-value-91d2';
const ENV = { UP_PW: SECRET, AGENT_PW: SECRET, EMPTY: '' };
const FILE = '/etc/bastion/fuzz.yaml';

function load(text: string): 'ok' | 'refused' {
  const started = Date.now();
  try {
    parseConfig(text, FILE, ENV);
    return 'ok';
  } catch (e) {
    if (!(e instanceof ConfigError))
      throw new Error(`not a ConfigError: ${(e as Error)?.stack ?? String(e)}`);
    assert.ok(!e.message.includes('\n'), `more than one line: ${JSON.stringify(e.message)}`);
    assert.ok(e.message.startsWith(`${FILE}:`), `does not name the file: ${e.message}`);
    assert.ok(!e.message.includes(SECRET), `echoes a secret: ${e.message}`);
    return 'refused';
  } finally {
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  }
}

const VALID = `store: ./b.db
connections:
  - name: app
    listen: 127.0.0.1:6432
    upstream: postgres://owner:\${UP_PW}@127.0.0.1:5432/appdb
identities:
  - name: agent
    password: \${AGENT_PW}
    connections: [app]
`;

const TOKENS = [
  'store: ',
  'connections:',
  'identities:',
  'policies:',
  'limits:',
  '  - name: app',
  '    listen: ',
  '127.0.0.1:6432',
  '    upstream: ',
  'postgres://u:${UP_PW}@h:1/d',
  'password: ${AGENT_PW}',
  '${MISSING}',
  '${',
  '}',
  '&a ',
  '*a',
  '<<: *a',
  '!!binary ',
  '!!js/function ',
  '? ',
  ': ',
  '- ',
  '[',
  ']',
  '{',
  '}',
  ',',
  '"',
  "'",
  '\n',
  '\n  ',
  '\n    ',
  '#',
  '|',
  '>',
  '---',
  '...',
  '%YAML 1.1\n',
  '__proto__: ',
  'constructor: ',
  '1e999',
  '0x7fffffff',
  '-1',
  '~',
  'null',
  'max_message_size: ',
  '1GiB',
  '9999999TiB',
  'startup_timeout: ',
  '0s',
  '\t',
  '\0',
  '\u2028',
  '\ufeff',
];
const soup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((t) => t.join(''));
/** The valid config with one random edit: a line dropped, duplicated, or a token inserted. */
const mutated = fc
  .tuple(fc.nat(), fc.constantFrom('drop', 'dup', 'insert'), fc.constantFrom(...TOKENS))
  .map(([at, how, token]) => {
    const lines = VALID.split('\n');
    const i = at % lines.length;
    if (how === 'drop') lines.splice(i, 1);
    else if (how === 'dup') lines.splice(i, 0, lines[i]);
    else
      lines[i] =
        lines[i].slice(0, at % (lines[i].length + 1)) + token + lines[i].slice(at % (lines[i].length + 1));
    return lines.join('\n');
  });

describe('config files', () => {
  test('corpus replay', () => {
    assert.equal(load(VALID), 'ok');
    for (const e of corpus('config')) {
      const r = load(String(e.text));
      if (typeof e.result === 'string') assert.equal(r, e.result, e.note);
    }
  });

  test('token soup, mutated valid configs and random text: a config or one ConfigError line', (t) => {
    fuzz(
      t,
      fc.property(
        fc.oneof(soup, mutated, fc.string({ unit: 'binary', maxLength: 200 })),
        (text) => void load(text),
      ),
    );
  });
});
