/** Request input checked against a zod schema: one place, so every route reports problems alike. */
import type { z } from 'zod';
import { ZetaError } from '../common/errors.js';

/** The parsed value, or ZETA_ERR_VALIDATION naming each problem as `<where>.<path>: <message>`. */
export function parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${where}${i.path.length > 0 ? '.' + i.path.map(String).join('.') : ''}: ${i.message}`);
    throw new ZetaError('ZETA_ERR_VALIDATION', problems.join('; '), { fields: { problems } });
  }
  return r.data;
}
