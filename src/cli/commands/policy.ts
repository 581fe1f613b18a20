/**
 * `cordon policy validate|sign|show|reload` and `cordon keygen`.
 */
import { ControlClient, resolveSocketPath } from '../../control/client.js';
import { ago, printJson } from '../common.js';

export async function validateCommand(path: string): Promise<number> {
  // The loader and compiler load only here: `policy show` and `policy reload` stay quick.
  const { formatPolicyErrors, loadPolicyPath } = await import('../../policy/load.js');
  const { compilePolicy } = await import('../../policy/compile.js');
  const result = await loadPolicyPath(path);
  if (!result.ok) {
    process.stderr.write(formatPolicyErrors(result.errors) + '\n');
    process.stderr.write(`${result.errors.length} error${result.errors.length === 1 ? '' : 's'} in ${path}\n`);
    return 1;
  }
  const p = result.policy;
  compilePolicy(p);
  const rules = [p.guardrails, ...p.profiles].reduce((n, l) => n + (l?.network?.rules.length ?? 0) + (l?.mounts?.rules.length ?? 0), 0);
  process.stdout.write(
    `ok: ${path} is a valid policy '${p.name}'${p.revision === null ? '' : ` revision ${p.revision}`} (${p.profiles.length} profile${p.profiles.length === 1 ? '' : 's'}, ${rules} rules, ${p.digest})\n`,
  );
  return 0;
}

export async function signCommand(path: string, keyPath: string): Promise<number> {
  const { signPolicyFile } = await import('../../policy/signature.js');
  const out = await signPolicyFile(path, keyPath);
  process.stdout.write(`wrote ${out.signaturePath} (key ${out.fingerprint})\n`);
  return 0;
}

/** A new key directory holds a private key: only its owner may list it. */
export const KEY_DIR_MODE = 0o700;

export async function keygenCommand(outDir: string, name: string): Promise<number> {
  const { generateKeyPair } = await import('../../policy/signature.js');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(outDir, { recursive: true, mode: KEY_DIR_MODE });
  const made = await generateKeyPair(outDir, name);
  process.stdout.write(`private key: ${made.privateKeyPath} (keep it secret; mode 0600)\npublic key:  ${made.publicKeyPath} (list it under policy.trusted_keys)\nkey id:      ${made.name} (${made.fingerprint})\n`);
  return 0;
}

export async function showCommand(opts: { json?: boolean; socket?: string }): Promise<number> {
  const status = await new ControlClient(resolveSocketPath(opts.socket)).status();
  const p = status.policy;
  if (opts.json === true) {
    printJson(p);
    return 0;
  }
  process.stdout.write(
    [
      `name        ${p.name}`,
      `revision    ${p.revision ?? '-'}`,
      `digest      ${p.digest}`,
      `source      ${p.source}`,
      `signed by   ${p.key_id ?? '-'}`,
      `mode        ${p.mode}`,
      `state       ${p.state}${p.stale_since === null ? '' : ` since ${p.stale_since}`}`,
      `loaded      ${p.loaded_at ?? '-'} (${ago(p.loaded_at)})`,
      `checked     ${p.checked_at ?? '-'}`,
      `last error  ${p.last_error ?? 'none'}`,
    ].join('\n') + '\n',
  );
  return 0;
}

export async function reloadCommand(opts: { json?: boolean; socket?: string }): Promise<number> {
  const result = await new ControlClient(resolveSocketPath(opts.socket)).reload();
  if (opts.json === true) printJson(result);
  else if (result.error !== null) process.stdout.write(`reload failed, keeping ${result.policy.name} (${result.policy.digest.slice(0, 19)}…): ${result.error}\n`);
  else process.stdout.write(result.changed ? `reloaded: now ${result.policy.name} rev ${result.policy.revision ?? '-'}\n` : `unchanged: ${result.policy.name} rev ${result.policy.revision ?? '-'}\n`);
  return result.error === null ? 0 : 1;
}
