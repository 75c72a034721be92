// Which client encodings the gateway can guard. It reads statements as UTF-8; that is exact for
// every encoding in which a byte below 0x80 is always that ASCII character (all the encodings
// PostgreSQL accepts as a server encoding). The client-only encodings (SJIS, BIG5, GBK, GB18030,
// UHC, JOHAB, SHIFT_JIS_2004) use bytes such as 0x5C (backslash) and 0x27 (quote) inside
// multibyte characters, so the server and the gateway would split the same bytes into different
// tokens: `E'\x95\x5c'; DROP TABLE t; --'` is one string to one and two statements to the other.
// Those, and names this list does not know, are refused.
// https://www.postgresql.org/docs/current/multibyte.html#MULTIBYTE-CHARSET-SUPPORTED

const GUARDABLE = new Set([
  'utf8',
  'unicode',
  'sqlascii',
  'eucjp',
  'eucjis2004',
  'euccn',
  'euckr',
  'euctw',
  'mule',
  'muleinternal',
  'koi8',
  'koi8r',
  'koi8u',
  'alt',
  'win',
  'tcvn',
  'tcvn5712',
  'vscii',
  'abc',
  ...['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'].map((n) => `latin${n}`),
  ...['1', '2', '3', '4', '9', '10', '13', '14', '15', '16'].map((n) => `iso8859${n}`),
  ...['5', '6', '7', '8'].map((n) => `iso8859${n}`),
  ...['866', '874', '1250', '1251', '1252', '1253', '1254', '1255', '1256', '1257', '1258'].flatMap((n) => [
    `win${n}`,
    `windows${n}`,
    `cp${n}`,
  ]),
]);

/** PostgreSQL compares encoding names ignoring case and anything not a letter or digit. */
function normalized(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Whether statements in this client encoding read the same to the gateway as to the server. */
export function isGuardableEncoding(name: string): boolean {
  return GUARDABLE.has(normalized(name));
}

/** Why a client encoding is refused, for the client and the record. */
export function unguardableEncodingReason(name: string | null): string {
  return name === null
    ? 'client_encoding set to a computed value: the gateway could not guard statements in an unknown encoding'
    : `client_encoding ${name} is refused: in it, the gateway cannot read statements as the server does; use UTF8`;
}
