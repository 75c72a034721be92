// Field checks for what goes into a record: a wrong type is refused with the field's name before
// anything is written (a record cannot be changed afterwards).

export function text(v: unknown, name: string): string {
  if (typeof v !== 'string') throw new TypeError(`${name} must be a string`);
  return v;
}

export function nonEmpty(v: unknown, name: string): string {
  if (text(v, name) === '') throw new TypeError(`${name} must not be empty`);
  return v as string;
}

export function optText(v: unknown, name: string): string | null {
  return v === null || v === undefined ? null : text(v, name);
}

export function int(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new TypeError(`${name} must be an integer`);
  return v;
}

export function optInt(v: unknown, name: string): number | null {
  return v === null || v === undefined ? null : int(v, name);
}

export function flag(v: unknown, name: string): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean`);
  return v;
}
