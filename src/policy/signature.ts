/**
 * Detached Ed25519 signatures over policy bytes (DESIGN §3 "Signed").
 *
 * A fleet's policy must be impossible to tamper with locally or in transit:
 * when the daemon config lists trusted public keys, a policy is accepted only
 * with a valid signature over its exact bytes by one of them. This module is
 * the only place that touches key material; `cordon keygen` and
 * `cordon policy sign` call it, and so does the policy store.
 *
 * Formats:
 *   - private key: PKCS#8 PEM, written with mode 0600 (`NAME.key`);
 *   - public key: SPKI PEM (`NAME.pub`);
 *   - signature: base64 of the 64-byte Ed25519 signature, one line, in
 *     `PATH.sig` beside the policy (for a URL: the URL path with `.sig` appended).
 * Key identity: a key's `id` is its file name without the extension
 * (`/etc/cordon/keys/acme-2026.pub` → `acme-2026`, what status and events
 * show); its `fingerprint` is `sha256:` + the first 16 hex digits of SHA-256
 * over the raw 32-byte public key (what `keygen` prints and events carry, so
 * a renamed file cannot pass for another key).
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as cryptoSign,
  verify as cryptoVerify,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';

export const SIGNATURE_SUFFIX = '.sig';
export const PRIVATE_KEY_SUFFIX = '.key';
export const PUBLIC_KEY_SUFFIX = '.pub';
export const ED25519_SIGNATURE_BYTES = 64;
export const ED25519_PUBLIC_KEY_BYTES = 32;
export const FINGERPRINT_HEX_CHARS = 16;
export const PRIVATE_KEY_FILE_MODE = 0o600;
export const PUBLIC_KEY_FILE_MODE = 0o644;
/** Key files are a few hundred bytes; anything this large is not a key. */
export const MAX_KEY_FILE_BYTES = 16 * 1024;
/** A signature file is 88 base64 characters plus whitespace. */
export const MAX_SIGNATURE_FILE_BYTES = 1024;
const KEY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface TrustedKey {
  /** File name without extension; shown as `key_id` in status and events. */
  id: string;
  /** `sha256:<16 hex>` over the raw public key. */
  fingerprint: string;
  path: string;
  key: KeyObject;
}

export type VerifyResult = { ok: true; keyId: string; fingerprint: string } | { ok: false; error: string };

export interface GeneratedKeyPair {
  name: string;
  privateKeyPath: string;
  publicKeyPath: string;
  fingerprint: string;
}

export interface SignedFile {
  path: string;
  signaturePath: string;
  signature: string;
  fingerprint: string;
}

/** `sha256:<16 hex>` of the raw 32-byte Ed25519 public key. */
export function publicKeyFingerprint(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') {
    throw new Error('not an Ed25519 key');
  }
  const raw = Buffer.from(jwk.x, 'base64url');
  if (raw.length !== ED25519_PUBLIC_KEY_BYTES) throw new Error('not an Ed25519 key');
  return `sha256:${createHash('sha256').update(raw).digest('hex').slice(0, FINGERPRINT_HEX_CHARS)}`;
}

/** The `.sig` path for a policy file. */
export function signaturePathFor(path: string): string {
  return `${path}${SIGNATURE_SUFFIX}`;
}

/** Base64 detached Ed25519 signature over `bytes`. */
export function sign(bytes: Uint8Array, privateKey: KeyObject): string {
  assertEd25519(privateKey, 'private');
  return cryptoSign(null, bytes, privateKey).toString('base64');
}

/**
 * Parses signature text (base64, surrounding whitespace allowed). Strict: the
 * text must be canonical base64 of exactly 64 bytes, so a truncated or
 * padded-with-junk file is reported as malformed rather than as "no key matched".
 */
export function parseSignature(text: string): { ok: true; bytes: Buffer } | { ok: false; error: string } {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) return { ok: false, error: 'signature is not base64' };
  const bytes = Buffer.from(trimmed, 'base64');
  if (bytes.length !== ED25519_SIGNATURE_BYTES || bytes.toString('base64') !== trimmed) {
    return { ok: false, error: `signature must be base64 of ${ED25519_SIGNATURE_BYTES} bytes` };
  }
  return { ok: true, bytes };
}

/** Verifies a detached signature against every trusted key; the first that verifies wins. */
export function verify(bytes: Uint8Array, signatureText: string, trustedKeys: readonly TrustedKey[]): VerifyResult {
  if (trustedKeys.length === 0) return { ok: false, error: 'no trusted keys configured' };
  const parsed = parseSignature(signatureText);
  if (!parsed.ok) return parsed;
  for (const trusted of trustedKeys) {
    if (cryptoVerify(null, bytes, trusted.key, parsed.bytes)) {
      return { ok: true, keyId: trusted.id, fingerprint: trusted.fingerprint };
    }
  }
  const names = trustedKeys.map((k) => k.id).join(', ');
  return { ok: false, error: `signature does not verify with any trusted key (${names})` };
}

/**
 * `cordon keygen --out DIR [--name NAME]`: writes DIR/NAME.key (0600, created
 * exclusively: an existing key is never overwritten) and DIR/NAME.pub. The
 * default name is `cordon-` + the fingerprint's hex digits.
 */
export async function generateKeyPair(outDir: string, name?: string): Promise<GeneratedKeyPair> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const fingerprint = publicKeyFingerprint(publicKey);
  const keyName = name ?? `cordon-${fingerprint.slice('sha256:'.length)}`;
  if (!KEY_NAME_PATTERN.test(keyName)) {
    throw new Error(`key name '${keyName}' must be 1-64 characters of letters, digits, '.', '_', '-'`);
  }
  const dir = resolve(outDir);
  const privateKeyPath = join(dir, `${keyName}${PRIVATE_KEY_SUFFIX}`);
  const publicKeyPath = join(dir, `${keyName}${PUBLIC_KEY_SUFFIX}`);
  const privatePem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const publicPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  await writeExclusive(privateKeyPath, privatePem, PRIVATE_KEY_FILE_MODE);
  try {
    await writeExclusive(publicKeyPath, publicPem, PUBLIC_KEY_FILE_MODE);
  } catch (err) {
    await unlink(privateKeyPath).catch(() => undefined);
    throw err;
  }
  return { name: keyName, privateKeyPath, publicKeyPath, fingerprint };
}

/** Reads an Ed25519 private key (PKCS#8 PEM). */
export async function loadPrivateKey(keyPath: string): Promise<KeyObject> {
  const text = await readSmallFile(keyPath, MAX_KEY_FILE_BYTES, 'key file');
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch {
    throw new Error(`${keyPath}: not a PEM private key`);
  }
  assertEd25519(key, 'private', keyPath);
  return key;
}

/** `cordon policy sign PATH --key KEY`: writes PATH.sig (atomically) over the exact bytes of PATH. */
export async function signPolicyFile(path: string, keyPath: string): Promise<SignedFile> {
  const key = await loadPrivateKey(keyPath);
  const bytes = await readFile(path);
  const signature = sign(bytes, key);
  const signaturePath = signaturePathFor(path);
  const tmp = `${signaturePath}.tmp-${process.pid}`;
  const handle = await open(tmp, 'w', PUBLIC_KEY_FILE_MODE);
  try {
    await handle.writeFile(`${signature}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, signaturePath);
  return { path, signaturePath, signature, fingerprint: publicKeyFingerprint(key) };
}

/**
 * Loads the trusted public keys listed in the daemon config. Every problem is
 * an error (a typo in a key path must not silently disable signing): an
 * unreadable file, a non-Ed25519 key, a private key where a public one belongs,
 * two files with the same id, the same key listed twice.
 */
export async function loadTrustedKeys(paths: readonly string[]): Promise<TrustedKey[]> {
  const keys: TrustedKey[] = [];
  for (const rawPath of paths) {
    const path = resolve(rawPath);
    const text = await readSmallFile(path, MAX_KEY_FILE_BYTES, 'trusted key');
    if (/PRIVATE KEY/.test(text)) {
      throw new Error(`${path}: is a private key; list the public key (.pub) in trusted_keys`);
    }
    let key: KeyObject;
    try {
      key = createPublicKey(text);
    } catch {
      throw new Error(`${path}: not a PEM public key`);
    }
    assertEd25519(key, 'public', path);
    const id = basename(path, extname(path));
    const fingerprint = publicKeyFingerprint(key);
    const sameId = keys.find((k) => k.id === id);
    if (sameId) throw new Error(`${path}: key id '${id}' is also used by ${sameId.path}; rename one of the files`);
    const sameKey = keys.find((k) => k.fingerprint === fingerprint);
    if (sameKey) throw new Error(`${path}: same key as ${sameKey.path} (${fingerprint})`);
    keys.push({ id, fingerprint, path, key });
  }
  return keys;
}

function assertEd25519(key: KeyObject, type: 'public' | 'private', where = 'key'): void {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${where}: expected an Ed25519 key, got ${key.asymmetricKeyType ?? key.type}`);
  }
  if (key.type !== type) throw new Error(`${where}: expected a ${type} key`);
}

async function readSmallFile(path: string, maxBytes: number, what: string): Promise<string> {
  const handle = await open(path, fsConstants.O_RDONLY).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${path}: cannot read ${what}: ${err.code ?? err.message}`);
  });
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new Error(`${path}: ${what} is not a regular file`);
    if (stat.size > maxBytes) throw new Error(`${path}: ${what} is larger than ${maxBytes} bytes`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

async function writeExclusive(path: string, text: string, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST') throw new Error(`${path} already exists; refusing to overwrite a key`);
    throw err;
  });
  try {
    await handle.writeFile(text);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
