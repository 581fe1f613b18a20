import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ED25519_SIGNATURE_BYTES,
  generateKeyPair,
  loadPrivateKey,
  loadTrustedKeys,
  parseSignature,
  publicKeyFingerprint,
  sign,
  signPolicyFile,
  verify,
} from '../../src/policy/signature.js';
import { policyYaml, tempDir, testKey } from '../helpers/policy-propagation.js';

t.test('keygen writes a 0600 PKCS#8 private key and an SPKI public key named after the key', async (t) => {
  const dir = await tempDir(t);
  const pair = await generateKeyPair(dir, 'acme-2026');
  t.equal(pair.privateKeyPath, join(dir, 'acme-2026.key'));
  t.equal(pair.publicKeyPath, join(dir, 'acme-2026.pub'));
  t.equal((await stat(pair.privateKeyPath)).mode & 0o777, 0o600, 'private key is readable by its owner only');
  t.match(await readFile(pair.privateKeyPath, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  t.match(await readFile(pair.publicKeyPath, 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
  t.match(pair.fingerprint, /^sha256:[0-9a-f]{16}$/);
  const [trusted] = await loadTrustedKeys([pair.publicKeyPath]);
  t.equal(trusted.id, 'acme-2026', 'key id is the file name without extension');
  t.equal(trusted.fingerprint, pair.fingerprint, 'fingerprint of the loaded public key matches keygen');
});

t.test('keygen without a name uses the fingerprint; never overwrites an existing key', async (t) => {
  const dir = await tempDir(t);
  const pair = await generateKeyPair(dir);
  t.equal(pair.name, `cordon-${pair.fingerprint.slice('sha256:'.length)}`);
  await generateKeyPair(dir, 'k1');
  const before = await readFile(join(dir, 'k1.key'), 'utf8');
  await t.rejects(generateKeyPair(dir, 'k1'), /already exists/);
  t.equal(await readFile(join(dir, 'k1.key'), 'utf8'), before, 'existing private key untouched');
  await t.rejects(generateKeyPair(dir, '../escape'), /key name/, 'a name with a path separator is refused');
});

t.test('sign + verify round trip over exact bytes', async (t) => {
  const a = testKey('a');
  const bytes = Buffer.from(policyYaml('p', 1));
  const sig = sign(bytes, a.privateKey);
  t.equal(Buffer.from(sig, 'base64').length, ED25519_SIGNATURE_BYTES);
  t.same(verify(bytes, sig, [a.trusted]), { ok: true, keyId: 'a', fingerprint: a.trusted.fingerprint });
  t.same(verify(bytes, `${sig}\n`, [a.trusted]), { ok: true, keyId: 'a', fingerprint: a.trusted.fingerprint }, 'trailing newline in .sig accepted');
});

t.test('verify picks whichever trusted key signed', async (t) => {
  const a = testKey('a');
  const b = testKey('b');
  const bytes = Buffer.from('x');
  const r = verify(bytes, sign(bytes, b.privateKey), [a.trusted, b.trusted]);
  t.ok(r.ok);
  if (r.ok) t.equal(r.keyId, 'b');
});

const attacks: { name: string; mutate: (bytes: Buffer, sig: string) => [Buffer, string]; error: RegExp }[] = [
  {
    name: 'attack: tampered body (one byte changed) fails',
    mutate: (bytes, sig) => {
      const copy = Buffer.from(bytes);
      copy[copy.length - 2] ^= 1;
      return [copy, sig];
    },
    error: /does not verify/,
  },
  {
    name: 'attack: body with an appended line fails',
    mutate: (bytes, sig) => [Buffer.concat([bytes, Buffer.from('# x\n')]), sig],
    error: /does not verify/,
  },
  {
    name: 'attack: truncated signature is malformed',
    mutate: (bytes, sig) => [bytes, sig.slice(0, 40)],
    error: /base64 of 64 bytes/,
  },
  {
    name: 'attack: signature with junk appended is malformed',
    mutate: (bytes, sig) => [bytes, `${sig}AAAA`],
    error: /base64 of 64 bytes|not base64/,
  },
  { name: 'attack: empty signature file', mutate: (bytes) => [bytes, ''], error: /not base64/ },
  { name: 'attack: non-base64 signature', mutate: (bytes) => [bytes, 'not a signature!'], error: /not base64/ },
  {
    name: 'attack: signature bits flipped',
    mutate: (bytes, sig) => {
      const raw = Buffer.from(sig, 'base64');
      raw[0] ^= 0x80;
      return [bytes, raw.toString('base64')];
    },
    error: /does not verify/,
  },
];

for (const attack of attacks) {
  t.test(attack.name, async (t) => {
    const a = testKey('a');
    const bytes = Buffer.from(policyYaml('p', 1));
    const [body, sig] = attack.mutate(bytes, sign(bytes, a.privateKey));
    const r = verify(body, sig, [a.trusted]);
    t.equal(r.ok, false);
    if (!r.ok) t.match(r.error, attack.error);
  });
}

t.test('attack: a valid signature by an untrusted key is rejected', async (t) => {
  const trusted = testKey('trusted');
  const attacker = testKey('attacker');
  const bytes = Buffer.from(policyYaml('evil', 99));
  const r = verify(bytes, sign(bytes, attacker.privateKey), [trusted.trusted]);
  t.equal(r.ok, false);
  if (!r.ok) t.match(r.error, /does not verify with any trusted key \(trusted\)/);
  t.same(verify(bytes, sign(bytes, attacker.privateKey), []), { ok: false, error: 'no trusted keys configured' });
});

t.test('parseSignature refuses non-canonical base64', async (t) => {
  const sig = Buffer.alloc(64, 7).toString('base64');
  t.ok(parseSignature(sig).ok);
  t.notOk(parseSignature(sig.replace(/=*$/, '')).ok, 'unpadded base64 is not canonical');
  t.notOk(parseSignature(Buffer.alloc(63).toString('base64')).ok, '63 bytes');
});

t.test('signPolicyFile writes PATH.sig that verifies against the public key file', async (t) => {
  const dir = await tempDir(t);
  const pair = await generateKeyPair(dir, 'ops');
  const policy = join(dir, 'policy.yaml');
  await writeFile(policy, policyYaml('signed', 3));
  const signed = await signPolicyFile(policy, pair.privateKeyPath);
  t.equal(signed.signaturePath, `${policy}.sig`);
  t.equal(signed.fingerprint, pair.fingerprint);
  const keys = await loadTrustedKeys([pair.publicKeyPath]);
  const r = verify(await readFile(policy), await readFile(`${policy}.sig`, 'utf8'), keys);
  t.same(r, { ok: true, keyId: 'ops', fingerprint: pair.fingerprint });
});

t.test('loadPrivateKey refuses a public key and a non-Ed25519 key', async (t) => {
  const dir = await tempDir(t);
  const pair = await generateKeyPair(dir, 'k');
  await t.rejects(loadPrivateKey(pair.publicKeyPath), /not a PEM private key/);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const rsaPath = join(dir, 'rsa.key');
  await writeFile(rsaPath, rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  await t.rejects(loadPrivateKey(rsaPath), /expected an Ed25519 key/);
  await t.rejects(signPolicyFile(join(dir, 'missing.yaml'), pair.privateKeyPath), /ENOENT/);
});

t.test('loadTrustedKeys refuses every misconfiguration', async (t) => {
  const dir = await tempDir(t);
  const a = await generateKeyPair(dir, 'a');
  const sub = join(dir, 'sub');
  await (await import('node:fs/promises')).mkdir(sub);
  const a2 = await generateKeyPair(sub, 'a');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const rsaPub = join(dir, 'rsa.pub');
  await writeFile(rsaPub, rsa.publicKey.export({ format: 'pem', type: 'spki' }));
  const garbage = join(dir, 'garbage.pub');
  await writeFile(garbage, 'hello');
  const copy = join(dir, 'a-copy.pub');
  await writeFile(copy, await readFile(a.publicKeyPath));
  const cases: { name: string; paths: string[]; error: RegExp }[] = [
    { name: 'a private key listed as trusted', paths: [a.privateKeyPath], error: /is a private key/ },
    { name: 'missing file', paths: [join(dir, 'nope.pub')], error: /cannot read trusted key: ENOENT/ },
    { name: 'RSA key', paths: [rsaPub], error: /expected an Ed25519 key, got rsa/ },
    { name: 'not PEM', paths: [garbage], error: /not a PEM public key/ },
    { name: 'two files with the same id', paths: [a.publicKeyPath, a2.publicKeyPath], error: /key id 'a' is also used/ },
    { name: 'the same key twice under two names', paths: [a.publicKeyPath, copy], error: /same key as/ },
    { name: 'a directory', paths: [dir], error: /not a regular file/ },
  ];
  for (const c of cases) await t.rejects(loadTrustedKeys(c.paths), c.error, c.name);
  t.same(await loadTrustedKeys([]), [], 'no keys: empty list');
});

t.test('fingerprint is over the raw public key: the private key gives the same one', async (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  t.equal(publicKeyFingerprint(privateKey), publicKeyFingerprint(publicKey));
  const other = generateKeyPairSync('ed25519');
  t.not(publicKeyFingerprint(other.publicKey), publicKeyFingerprint(publicKey));
});
