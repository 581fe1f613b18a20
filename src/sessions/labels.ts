/**
 * Session label validation, shared by the status API and the CLI. Kept apart
 * from the registry so that CLI commands which only parse `--labels` do not
 * load node:crypto (start-up time of every `cordon` invocation).
 */

export const MAX_LABELS = 32;
export const MAX_LABEL_KEY_CHARS = 64;
export const MAX_LABEL_VALUE_CHARS = 256;

/** Validates a label map; returns an error message or null. */
export function labelsError(labels: unknown): string | null {
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) return 'labels must be an object of string values';
  const entries = Object.entries(labels as Record<string, unknown>);
  if (entries.length > MAX_LABELS) return `at most ${MAX_LABELS} labels`;
  for (const [key, value] of entries) {
    if (!/^[A-Za-z0-9_.\-/]+$/.test(key) || key.length > MAX_LABEL_KEY_CHARS) {
      return `label key '${key}' must be 1-${MAX_LABEL_KEY_CHARS} characters of letters, digits, '_', '.', '-', '/'`;
    }
    if (typeof value !== 'string') return `label '${key}' must be a string`;
    if (value.length > MAX_LABEL_VALUE_CHARS || /[\u0000-\u001f\u007f]/.test(value)) {
      return `label '${key}' must be at most ${MAX_LABEL_VALUE_CHARS} printable characters`;
    }
  }
  return null;
}
