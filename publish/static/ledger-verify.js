// ledger-verify.js: checks one fact-ledger entry in the reader's own browser.
//
// Specification: docs/browser-verify.md. It does, with WebCrypto (Ed25519 and
// SHA-256) and nothing else, what `ledger verify CLAIM_ID --proof FILE --vkey VKEY`
// does in Python (ledger/verify.py, verify_claim_proof), then checks that the
// values the page displays are the signed record's fields:
//
//   1. the checkpoint is a C2SP signed note signed by the log key the page gives
//      (docs/log.md "Keys and signed notes"), and its body names this log;
//   2. the entry's leaf is included in that checkpoint's tree (RFC 6962 leaf hash,
//      RFC 9162 §2.1.3.2 inclusion proof);
//   3. the leaf is the canonical signed envelope (RFC 8785) of a record of the
//      ID the page is about (docs/format.md "Signed message and envelope");
//   4. the signer's key is registered by a key record, signed by the log key and
//      included in the same checkpoint, before the entry;
//   5. the signer's Ed25519 signature over
//      "fact-ledger/record/v1\n" || origin || "\n" || canonical(record) verifies;
//   6. each element marked data-signed-field shows exactly that field.
//
// It reads bytes from the site's own routes (docs/site.md), from a c2sp.org/
// tlog-proof bundle whose extra line carries the entry and its key registration
// (docs/verify.md "One claim, offline"), or from c2sp.org/tlog-tiles. It runs under
// `script-src 'self'`: no inline script, no eval; the page passes everything in
// data attributes and loads this file with <script type="module" src=...>.
//
// Plain ES2020 modules, no build step, no dependencies. Every input is untrusted:
// parsers accept only the canonical form, as the Python ones do.

export const RECORD_DOMAIN = 'fact-ledger/record/v1';
const HASH_SIZE = 32;
const ED25519 = 0x01;        // c2sp.org/signed-note signature type of Ed25519
const COSIGNATURE_V1 = 0x04; // c2sp.org/tlog-cosignature Ed25519 cosignatures
const MAX_SIGNATURES = 100;  // signed-note: verifiers cap the signature lines (Go uses 100)
const TILE_HEIGHT = 8;       // c2sp.org/tlog-tiles: tiles are 256 hashes wide
const TILE_WIDTH = 256;

// ---------------------------------------------------------------------------
// Failures. A check either passes or throws a Failure naming itself; the
// reader's words ("words") and the technical detail are kept apart.
// ---------------------------------------------------------------------------

export class Failure extends Error {
  constructor(check, words, detail = '') {
    super(`${check}: ${detail || words}`);
    this.check = check;
    this.words = words;
    this.detail = detail;
  }
}

// ---------------------------------------------------------------------------
// Bytes, text, base64.
// ---------------------------------------------------------------------------

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Decode UTF-8, refusing invalid bytes (the ledger's parsers do the same). */
export function decodeUtf8(bytes, what) {
  try {
    return strictUtf8.decode(bytes);
  } catch (e) {
    throw new SyntaxError(`${what}: not valid UTF-8`);
  }
}

function b64encode(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard base64 with padding (RFC 4648 §4), canonical only: atob alone
 *  would accept whitespace, missing padding and non-zero padding bits. */
export function b64decode(text, what) {
  if (typeof text !== 'string' || !B64.test(text)) throw new SyntaxError(`${what}: expected standard base64, found ${JSON.stringify(String(text)).slice(0, 80)}`);
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (b64encode(out) !== text) throw new SyntaxError(`${what}: expected canonical base64 (padding bits set)`);
  return out;
}

// ---------------------------------------------------------------------------
// Canonical JSON: RFC 8785 for the values records hold (no floats). Strings are
// serialized exactly as JSON.stringify does (RFC 8785 §3.2.2.2 is defined as
// ECMAScript's serialization); members sorted by UTF-16 code units (§3.2.3),
// which is what Array.prototype.sort compares. Integers outside ±(2^53 − 1),
// non-integers and lone surrogates cannot be canonical: refused.
// ---------------------------------------------------------------------------

export function canonicalJSON(value) {
  if (value === null || value === true || value === false) return String(value);
  switch (typeof value) {
    case 'string':
      if (!isWellFormed(value)) throw new SyntaxError('a string holds a lone surrogate');
      return JSON.stringify(value);
    case 'number':
      if (!Number.isSafeInteger(value) || Object.is(value, -0)) throw new SyntaxError(`number ${value} is not an integer within ±(2^53 − 1)`);
      return String(value);
    case 'object':
      if (Array.isArray(value)) return '[' + value.map(canonicalJSON).join(',') + ']';
      return '{' + Object.keys(value).sort().map((k) => canonicalJSON(k) + ':' + canonicalJSON(value[k])).join(',') + '}';
    default:
      throw new SyntaxError(`${typeof value} is not a JSON value`);
  }
}

function isWellFormed(s) {
  if (typeof s.isWellFormed === 'function') return s.isWellFormed();
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

// ---------------------------------------------------------------------------
// Hashes: SHA-256 and the RFC 6962 §2.1 tree hashes.
// ---------------------------------------------------------------------------

function subtle() {
  return globalThis.crypto.subtle;
}

export async function sha256(bytes) {
  return new Uint8Array(await subtle().digest('SHA-256', bytes));
}

/** RFC 6962 §2.1: the leaf hash SHA-256(0x00 || leaf), the entry hash of format.md. */
export function leafHash(leaf) {
  return sha256(concat(Uint8Array.of(0), leaf));
}

/** RFC 6962 §2.1: an interior node's hash SHA-256(0x01 || left || right). */
export function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/** RFC 9162 §2.1.3.2: check that `proof` leads from `hash` at `index` to `root`.
 *  Throws a SyntaxError/RangeError describing the first thing that is wrong. */
export async function verifyInclusion(index, size, hash, proof, root) {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size)) {
    throw new RangeError(`leaf index ${index} is not in a tree of size ${size}`);
  }
  if (hash.length !== HASH_SIZE || proof.some((p) => p.length !== HASH_SIZE)) throw new RangeError('a hash is not 32 bytes');
  // Arithmetic, not bit operators: indexes may exceed 2^31.
  let fn = index, sn = size - 1, r = hash;
  for (const p of proof) {
    if (sn === 0) throw new RangeError(`the proof has ${proof.length} hashes, more than a leaf at index ${index} of ${size} needs`);
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new RangeError(`the proof has ${proof.length} hashes, fewer than a leaf at index ${index} of ${size} needs`);
  if (!equalBytes(r, root)) throw new RangeError("the proof does not lead to the checkpoint's root hash");
}

// ---------------------------------------------------------------------------
// Verifier keys and signed notes (c2sp.org/signed-note, Ed25519 only), as
// ledger/note.py: name+hex8(key ID)+base64(type || public key).
// ---------------------------------------------------------------------------

function validName(name) {
  // signed-note: non-empty, no '+', no Unicode space (nor control characters), as ledger/note.py.
  return typeof name === 'string' && name !== '' && !name.includes('+') && !/[\s\u0000-\u001f]/u.test(name);
}

function keyIdOf(name, typedKey) {
  return sha256(concat(utf8.encode(name), Uint8Array.of(0x0a), typedKey)).then((h) => h.subarray(0, 4));
}

/** Parse a verifier key `name+hex8+base64(type || key)`, canonical only.
 *  `type` is 0x01 for a log or editor key, 0x04 for a witness (cosignature/v1). */
export async function parseVerifierKey(text, type = ED25519) {
  if (typeof text !== 'string') throw new SyntaxError('no verifier key given');
  const parts = text.split('+');
  if (parts.length < 3) throw new SyntaxError(`expected name+keyid+key, found ${JSON.stringify(text)}`);
  // The name has no '+' but the base64 key may: split twice only.
  const [name, hexId, key64] = [parts[0], parts[1], parts.slice(2).join('+')];
  if (!validName(name)) throw new SyntaxError(`expected a key name without spaces or '+', found ${JSON.stringify(name)}`);
  if (!/^[0-9a-f]{8}$/.test(hexId)) throw new SyntaxError(`expected 8 lowercase hex digits of key ID, found ${JSON.stringify(hexId)}`);
  const typed = b64decode(key64, 'verifier key');
  if (typed.length < 1) throw new SyntaxError('the verifier key holds no key');
  const want = hex(await keyIdOf(name, typed));
  if (hexId !== want) throw new SyntaxError(`the key ID of ${name} should be ${want}, found ${hexId}`);
  if (typed[0] !== type) throw new SyntaxError(`expected key type 0x0${type}, found 0x${typed[0].toString(16).padStart(2, '0')}`);
  if (typed.length !== 33) throw new SyntaxError(`expected a 32-byte Ed25519 key, found ${typed.length - 1} bytes`);
  const publicKey = typed.subarray(1);
  let cryptoKey;
  try {
    cryptoKey = await subtle().importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  } catch (e) {
    throw new SyntaxError(`the browser refused the Ed25519 key (${e.name})`);
  }
  return {
    vkey: text,
    name,
    keyId: hexId,
    signerId: `${name}+${hexId}`,
    publicKey,
    cryptoKey,
    // SHA-256 of the verifier key line as /-/vkey serves it (with its final
    // newline), so `curl -s SITE/-/vkey | sha256sum` prints the same digits.
    fingerprint: hex(await sha256(utf8.encode(text + '\n'))),
  };
}

function verifyEd25519(key, signature, message) {
  if (signature.length !== 64) return Promise.resolve(false);
  return subtle().verify({ name: 'Ed25519' }, key.cryptoKey, signature, message);
}

/** Open a signed note (Go note.Open, as ledger/note.py open_note_untrusted) with
 *  one known key. Returns the note text and the signature lines by other keys;
 *  throws a SyntaxError for a malformed note, an Error when the signature fails. */
export async function openNote(noteText, key) {
  if (/[\u0000-\u0009\u000b-\u001f]/.test(noteText)) throw new SyntaxError('the note holds a control character other than newline');
  const split = noteText.lastIndexOf('\n\n');
  if (split < 0) throw new SyntaxError('the note has no blank line before its signatures');
  const text = noteText.slice(0, split + 1);
  const block = noteText.slice(split + 2);
  if (!block || !block.endsWith('\n')) throw new SyntaxError('the note has no signature lines ending in a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new SyntaxError(`the note has ${lines.length} signatures, more than ${MAX_SIGNATURES}`);
  const message = utf8.encode(text);
  const others = [];
  let verified = false;
  for (const line of lines) {
    const m = /^\u2014 ([^ ]+) ([^ ]+)$/.exec(line);
    if (!m || !validName(m[1])) throw new SyntaxError(`not a signature line: ${JSON.stringify(line)}`);
    const raw = b64decode(m[2], `signature by ${m[1]}`);
    if (raw.length < 5) throw new SyntaxError(`the signature by ${m[1]} is too short`);
    const sig = { name: m[1], keyId: hex(raw.subarray(0, 4)), body: raw.subarray(4), line };
    if (sig.name !== key.name || sig.keyId !== key.keyId) {
      others.push(sig); // signed-note: signatures by unknown keys are ignored
      continue;
    }
    // As ledger/note.py (stricter than Go): every line by the known key must verify.
    if (!(await verifyEd25519(key, sig.body, message))) throw new Error(`the signature by ${key.signerId} does not verify`);
    verified = true;
  }
  if (!verified) {
    const found = others.map((s) => `${s.name}+${s.keyId}`).join(', ');
    throw new Error(`no signature by ${key.signerId}; found only ${found || 'none'}`);
  }
  return { text, others };
}

const DECIMAL = /^(?:0|[1-9][0-9]{0,15})$/;

/** Parse checkpoint note text (c2sp.org/tlog-checkpoint), canonical only. */
export function parseCheckpointText(text) {
  if (!text.endsWith('\n')) throw new SyntaxError('the checkpoint text does not end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new SyntaxError(`expected at least 3 lines (origin, size, root), found ${lines.length}`);
  const [origin, sizeText, root, ...extensions] = lines;
  for (const line of [origin, ...extensions]) {
    if (line === '') throw new SyntaxError('a checkpoint line is empty');
  }
  if (!DECIMAL.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw new SyntaxError(`the tree size ${JSON.stringify(sizeText)} is not a decimal number without sign or leading zeros`);
  }
  const rootHash = b64decode(root, 'checkpoint root hash');
  if (rootHash.length !== HASH_SIZE) throw new SyntaxError(`the root hash is ${rootHash.length} bytes, not 32`);
  return { origin, size: Number(sizeText), rootHash, extensions };
}

/** Check Ed25519 cosignatures (c2sp.org/tlog-cosignature, cosignature/v1) of
 *  the checkpoint `text` by the witnesses `keys`. Returns, for each witness,
 *  {name, keyId, ok, time} (time: Date of the cosignature, or null if absent). */
export async function checkCosignatures(text, others, keys) {
  const out = [];
  for (const w of keys) {
    const sig = others.find((s) => s.name === w.name && s.keyId === w.keyId);
    if (!sig) { out.push({ name: w.name, keyId: w.keyId, ok: false, time: null, missing: true }); continue; }
    let ok = false, time = null;
    if (sig.body.length === 8 + 64) {
      const seconds = new DataView(sig.body.buffer, sig.body.byteOffset, 8).getBigUint64(0);
      const message = utf8.encode(`cosignature/v1\ntime ${seconds}\n${text}`);
      ok = await verifyEd25519(w, sig.body.subarray(8), message);
      time = seconds <= 8640000000000n ? new Date(Number(seconds) * 1000) : null;
    }
    out.push({ name: w.name, keyId: w.keyId, ok, time, missing: false });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Entries: the leaf is canonical({"record": R, "sig": B64, "signer": ID}).
// ---------------------------------------------------------------------------

/** Parse leaf bytes into {record, recordBytes, sig, signer}, requiring the leaf
 *  to be exactly the canonical envelope (re-serialized and compared). */
export function parseLeaf(leaf) {
  const text = decodeUtf8(leaf, 'the leaf');
  let envelope;
  try {
    envelope = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError('the leaf is not JSON');
  }
  if (!envelope || typeof envelope !== 'object' || Array.isArray(envelope)) throw new SyntaxError('the leaf is not a JSON object');
  const keys = Object.keys(envelope).sort().join(',');
  if (keys !== 'record,sig,signer') throw new SyntaxError(`the envelope's members are ${keys || 'none'}, not record, sig and signer`);
  const { record, sig, signer } = envelope;
  if (!record || typeof record !== 'object' || Array.isArray(record)) throw new SyntaxError('the envelope\'s record is not an object');
  if (typeof sig !== 'string' || typeof signer !== 'string') throw new SyntaxError('the envelope\'s sig and signer are not strings');
  const recordText = canonicalJSON(record);
  // The canonical record bytes must be the bytes inside the leaf (the envelope
  // sorts "record" first), and the whole leaf must be canonical.
  const prefix = '{"record":' + recordText + ',';
  if (!text.startsWith(prefix)) throw new SyntaxError('the record inside the leaf is not in RFC 8785 canonical form');
  if (canonicalJSON(envelope) !== text) throw new SyntaxError('the leaf is not in RFC 8785 canonical form');
  if (!/^[^\s+]{1,200}\+[0-9a-f]{8}$/u.test(signer)) throw new SyntaxError(`the signer ${JSON.stringify(signer)} is not name+keyid`);
  return { record, recordBytes: utf8.encode(recordText), signature: b64decode(sig, 'the signature'), signer };
}

/** format.md "Signed message": "fact-ledger/record/v1" 0x0A origin 0x0A canonical(record). */
export function signedMessage(origin, recordBytes) {
  return concat(utf8.encode(`${RECORD_DOMAIN}\n${origin}\n`), recordBytes);
}

// ---------------------------------------------------------------------------
// Readers: where the bytes come from. Each gives the signed checkpoint note and,
// for an entry index and that checkpoint's size, the leaf and its inclusion
// proof. None is trusted: everything they return is checked above.
// ---------------------------------------------------------------------------

async function fetchOk(fetcher, url, what) {
  let response;
  try {
    response = await fetcher(url);
  } catch (e) {
    throw new Failure('download', `The ${what} could not be downloaded from this site.`, `${url}: ${e.message}`);
  }
  if (!response.ok) throw new Failure('download', `The ${what} could not be downloaded from this site.`, `${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

function joinUrl(base, path) {
  return base.endsWith('/') ? base + path : `${base}/${path}`;
}

/** The site's verifier routes (docs/site.md "Verifier routes"). */
export function routesReader(base = '/', fetcher = globalThis.fetch.bind(globalThis)) {
  const early = new Map();
  const leafOf = (index) => fetchOk(fetcher, joinUrl(base, `-/entries.jsonl?start=${index}&end=${index + 1}`), `entry ${index}`);
  const proofOf = (index, size) => fetchOk(fetcher, joinUrl(base, `-/proof/inclusion/${index}.json` + (size === undefined ? '' : `?size=${size}`)),
    `inclusion proof of entry ${index}`).then((bytes) => {
    try {
      return JSON.parse(decodeUtf8(bytes, 'the proof'));
    } catch (e) {
      throw new Failure('download', `The site sent the inclusion proof of entry ${index} in an unexpected form.`, e.message);
    }
  });
  return {
    kind: 'routes',
    // Ask for the entries, and their proofs at the latest checkpoint, while the
    // checkpoint downloads: one round trip instead of two. A proof for another
    // size (an append came in between) is asked again at the checkpoint's size.
    prefetch(indexes) {
      for (const index of indexes) {
        if (early.has(index)) continue;
        const pending = { leaf: leafOf(index), proof: proofOf(index) };
        pending.leaf.catch(() => {});
        pending.proof.catch(() => {});
        early.set(index, pending);
      }
    },
    async checkpoint() {
      return fetchOk(fetcher, joinUrl(base, '-/checkpoint'), 'log checkpoint');
    },
    async entry(index, size) {
      const pending = early.get(index);
      const lines = await (pending ? pending.leaf : leafOf(index));
      let proof = pending ? await pending.proof.catch(() => null) : null;
      if (!proof || proof.tree_size !== size) proof = await proofOf(index, size);
      // One leaf and its newline; canonical JSON holds no raw newline.
      const nl = lines.indexOf(0x0a);
      if (nl !== lines.length - 1) throw new Failure('download', `The site sent entry ${index} in an unexpected form.`, 'expected one line ending in a newline');
      return { leaf: lines.subarray(0, nl), proof: parseProofJson(proof, index, size) };
    },
  };
}

function parseProofJson(proof, index, size) {
  const bad = (detail) => new Failure('inclusion', `The inclusion proof of entry ${index} is malformed.`, detail);
  if (!proof || proof.leaf_index !== index || proof.tree_size !== size || !Array.isArray(proof.hashes)) {
    throw bad(`expected {"leaf_index": ${index}, "tree_size": ${size}, "hashes": [...]}`);
  }
  try {
    return proof.hashes.map((h) => b64decode(h, 'proof hash'));
  } catch (e) {
    throw bad(e.message);
  }
}

/** Parse a c2sp.org/tlog-proof@v1 bundle (docs/log.md "Proof bundles"). */
export function parseTlogProof(text) {
  const split = text.indexOf('\n\n');
  if (split < 0) throw new SyntaxError('the bundle has no blank line before its checkpoint');
  const head = text.slice(0, split).split('\n');
  const note = text.slice(split + 2);
  if (head[0] !== 'c2sp.org/tlog-proof@v1') throw new SyntaxError('the bundle does not start with c2sp.org/tlog-proof@v1');
  let i = 1, extra = null;
  if (head[i] && head[i].startsWith('extra ')) { extra = b64decode(head[i].slice(6), 'extra data'); i++; }
  const m = /^index (0|[1-9][0-9]{0,15})$/.exec(head[i] || '');
  if (!m) throw new SyntaxError('the bundle has no "index N" line');
  const hashes = head.slice(i + 1).map((h) => b64decode(h, 'proof hash'));
  return { index: Number(m[1]), hashes, note, extra };
}

/** c2sp.org/tlog-proof bundles from /-/proof/tlog/{index}, whose extra line
 *  carries the entry's leaf and its key registration (docs/verify.md). */
export function tlogProofReader(base = '/', fetcher = globalThis.fetch.bind(globalThis)) {
  const early = new Map();
  const bundleOf = async (index, size) => {
    const url = joinUrl(base, `-/proof/tlog/${index}` + (size === undefined ? '' : `?size=${size}`));
    const bytes = await fetchOk(fetcher, url, `proof bundle of entry ${index}`);
    try {
      const bundle = parseTlogProof(decodeUtf8(bytes, 'the bundle'));
      if (bundle.index !== index) throw new SyntaxError(`the bundle is for entry ${bundle.index}`);
      if (!bundle.extra) throw new SyntaxError("the bundle has no 'extra' line carrying the entry");
      const extra = JSON.parse(decodeUtf8(bundle.extra, 'extra data'));
      const key = extra.key;
      if (!key || !Number.isSafeInteger(key.leaf_index) || !Array.isArray(key.hashes)) throw new SyntaxError('the extra data has no key registration');
      bundle.leaf = b64decode(extra.leaf, 'the entry in extra');
      bundle.key = { index: key.leaf_index, leaf: b64decode(key.leaf, 'the key entry in extra'), proof: key.hashes.map((h) => b64decode(h, 'proof hash')) };
      return bundle;
    } catch (e) {
      throw new Failure('download', `The proof bundle of entry ${index} is not in the expected form.`, e.message);
    }
  };
  const started = (index) => {
    if (!early.has(index)) { const p = bundleOf(index); p.catch(() => {}); early.set(index, p); }
    return early.get(index);
  };
  let first = null;
  return {
    kind: 'tlog-proof',
    prefetch(indexes) { indexes.forEach((index) => started(index)); },
    // The first entry's bundle holds the checkpoint; another entry's bundle must
    // carry the same one, or it is asked again at that checkpoint's size.
    async checkpoint(index) {
      first = await started(index);
      return utf8.encode(first.note);
    },
    async entry(index, size) {
      let bundle = await started(index);
      if (bundle.note !== first.note) bundle = await bundleOf(index, size);
      if (bundle.note !== first.note) throw new Failure('download', `The proof bundle of entry ${index} is for another checkpoint.`, 'the bundles carry different checkpoints');
      return { leaf: bundle.leaf, proof: bundle.hashes, key: bundle.key };
    },
  };
}

/** The path of a tile or entry bundle (c2sp.org/tlog-tiles): tile/<L>/<N>[.p/<W>],
 *  N in 3-digit groups, all but the last prefixed with "x" (1234067 → x001/x234/067). */
export function tilePath(level, index, width = TILE_WIDTH) {
  let n = index, path = String(n % 1000).padStart(3, '0');
  n = Math.floor(n / 1000);
  while (n > 0) { path = `x${String(n % 1000).padStart(3, '0')}/${path}`; n = Math.floor(n / 1000); }
  return `tile/${level}/${path}` + (width === TILE_WIDTH ? '' : `.p/${width}`);
}

// Width of tile `index` at tile level `level` as published for a tree of `size`.
function tileWidth(level, index, size) {
  return Math.min(TILE_WIDTH, Math.floor(size / TILE_WIDTH ** level) - index * TILE_WIDTH);
}

function largestPowerOfTwoBelow(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// RFC 9162 §2.1.3.1 PATH(m, D[lo:hi]) as the leaf ranges whose tree hashes it lists.
function inclusionRanges(m, lo, hi, out) {
  if (hi - lo <= 1) return out;
  const k = largestPowerOfTwoBelow(hi - lo);
  if (m < lo + k) { inclusionRanges(m, lo, lo + k, out); out.push([lo + k, hi]); }
  else { inclusionRanges(m, lo + k, hi, out); out.push([lo, lo + k]); }
  return out;
}

// The complete subtrees (height, index) whose hashes MTH(D[lo:hi]) is made of.
function rangeNodes(lo, hi, out) {
  const n = hi - lo;
  let h = 0;
  while (2 ** h < n) h++;
  if (2 ** h === n) {
    out.push([h, lo / n]);
  } else {
    const k = largestPowerOfTwoBelow(n);
    rangeNodes(lo, lo + k, out);
    rangeNodes(lo + k, hi, out);
  }
  return out;
}

// The tile holding the hashes a complete subtree's hash is computed from.
function nodeTile(h, k) {
  const level = Math.floor(h / TILE_HEIGHT);
  const span = 2 ** (h - level * TILE_HEIGHT);           // hashes of that tile level under the node
  const first = k * span;                                // index of the first one in the level
  return { level, index: Math.floor(first / TILE_WIDTH), offset: first % TILE_WIDTH, span };
}

/** Compute the inclusion proof of leaf `index` in the tree of `size` from hash
 *  tiles, as sumdb's and Tessera's clients do: at most one tile per tile level
 *  plus the right-edge partial tiles. `getTile(level, index, width)` resolves to
 *  the tile's bytes (width × 32). The result is then verified like any proof:
 *  tiles from an untrusted mirror cannot make a false proof verify. */
export async function inclusionProofFromTiles(index, size, getTile) {
  const ranges = inclusionRanges(index, 0, size, []);
  const nodes = ranges.map(([lo, hi]) => rangeNodes(lo, hi, []));
  // Fetch every tile needed, in parallel, before hashing.
  const tiles = new Map();
  for (const [h, k] of nodes.flat()) {
    const t = nodeTile(h, k);
    const key = `${t.level}/${t.index}`;
    if (!tiles.has(key)) {
      const width = tileWidth(t.level, t.index, size);
      tiles.set(key, Promise.resolve(getTile(t.level, t.index, width)).then((bytes) => {
        if (bytes.length !== width * HASH_SIZE) throw new RangeError(`tile ${tilePath(t.level, t.index, width)} is ${bytes.length} bytes, not ${width * HASH_SIZE}`);
        return bytes;
      }));
    }
  }
  const nodeHashOf = async (h, k) => {
    const t = nodeTile(h, k);
    const bytes = await tiles.get(`${t.level}/${t.index}`);
    let level = [];
    for (let i = 0; i < t.span; i++) level.push(bytes.subarray((t.offset + i) * HASH_SIZE, (t.offset + i + 1) * HASH_SIZE));
    while (level.length > 1) {
      const up = [];
      for (let i = 0; i < level.length; i += 2) up.push(nodeHash(level[i], level[i + 1]));
      level = await Promise.all(up);
    }
    return level[0];
  };
  const proof = [];
  for (const parts of nodes) {
    // MTH of a range: its complete subtrees folded from the right (log.md "Stored hashes").
    const hashes = await Promise.all(parts.map(([h, k]) => nodeHashOf(h, k)));
    let r = hashes[hashes.length - 1];
    for (let i = hashes.length - 2; i >= 0; i--) r = await nodeHash(hashes[i], r);
    proof.push(r);
  }
  return proof;
}

/** Parse an entry bundle: big-endian uint16 length-prefixed leaves (tlog-tiles "Log entries"). */
export function parseEntryBundle(bytes, count) {
  const leaves = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 2 > bytes.length) throw new RangeError('the entry bundle ends inside a length');
    const n = (bytes[at] << 8) | bytes[at + 1];
    if (at + 2 + n > bytes.length) throw new RangeError('the entry bundle ends inside an entry');
    leaves.push(bytes.subarray(at + 2, at + 2 + n));
    at += 2 + n;
  }
  if (count !== undefined && leaves.length !== count) throw new RangeError(`the entry bundle holds ${leaves.length} entries, not ${count}`);
  return leaves;
}

/** A log served as c2sp.org/tlog-tiles under `prefix` (the site's /-/tlog/, or a
 *  static mirror). A missing partial tile falls back to the full tile (tlog-tiles
 *  "Partial Tiles"). `fetched` lists every URL read, for tests and benchmarks. */
export function tilesReader(prefix = '/-/tlog/', fetcher = globalThis.fetch.bind(globalThis)) {
  const fetched = [];
  const cache = new Map();
  const get = (level, index, width, what) => {
    const path = tilePath(level, index, width);
    if (!cache.has(path)) {
      cache.set(path, (async () => {
        fetched.push(path);
        try {
          return await fetchOk(fetcher, joinUrl(prefix, path), what);
        } catch (e) {
          if (width === TILE_WIDTH) throw e;
          fetched.push(tilePath(level, index));
          const full = await fetchOk(fetcher, joinUrl(prefix, tilePath(level, index)), what);
          return level === 'entries' ? full : full.subarray(0, width * HASH_SIZE);
        }
      })());
    }
    return cache.get(path);
  };
  return {
    kind: 'tiles',
    fetched,
    async checkpoint() {
      fetched.push('checkpoint');
      return fetchOk(fetcher, joinUrl(prefix, 'checkpoint'), 'log checkpoint');
    },
    async entry(index, size) {
      const n = Math.floor(index / TILE_WIDTH);
      const width = tileWidth(0, n, size);
      const [bundle, proof] = await Promise.all([
        get('entries', n, width, `entries around entry ${index}`),
        inclusionProofFromTiles(index, size, (level, i, w) => get(level, i, w, 'log hash tiles')).catch((e) => {
          if (e instanceof Failure) throw e;
          throw new Failure('inclusion', `The log's hash tiles around entry ${index} are malformed.`, e.message);
        }),
      ]);
      let leaves;
      try {
        leaves = parseEntryBundle(bundle);
        // A full bundle fetched in place of a vanished partial one holds more.
        if (leaves.length !== width && !(leaves.length === TILE_WIDTH && width < TILE_WIDTH)) throw new RangeError(`the entry bundle holds ${leaves.length} entries, not ${width}`);
      } catch (e) {
        throw new Failure('download', `The site sent the entries around entry ${index} in an unexpected form.`, e.message);
      }
      return { leaf: leaves[index - n * TILE_WIDTH], proof };
    },
  };
}

// ---------------------------------------------------------------------------
// What the page displays: elements marked data-signed-field="path" show the
// value at that path of the signed record (dotted; array positions as numbers).
// ---------------------------------------------------------------------------

const FIELD_WORDS = {
  'text': 'claim text',
  'translation.text': 'translation',
  'quote.exact': 'quote',
  'quote.prefix': 'text before the quote',
  'quote.suffix': 'text after the quote',
  'rating.label': 'verdict',
  'rating.normalized': 'normalized rating',
  'attribution.text': 'attribution',
  'explanation': 'explanation of the verdict',
  'title': 'title',
  'reason': 'reason',
  'claim_date': 'claim date',
  'reviewed': 'review date',
};

export function fieldWords(path) {
  return FIELD_WORDS[path] || `field “${path}”`;
}

function fieldValue(record, path) {
  let value = record;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, part)) return undefined;
    value = value[part];
  }
  return value;
}

// ---------------------------------------------------------------------------
// The verification of one entry (and of the other entries the page shows
// values from, such as the review whose verdict is displayed).
// ---------------------------------------------------------------------------

const TITLES = {
  'browser': 'Your browser can check signatures (WebCrypto with Ed25519 and SHA-256, on a secure page)',
  'page': 'The page says which log entry to check',
  'log-key': 'The log key given by this page is a well-formed Ed25519 verifier key',
  'download': 'The proofs and entries were downloaded from this site',
  'checkpoint-signature': "The log's checkpoint is signed by that log key",
  'checkpoint': 'The checkpoint is well-formed and is for this log',
  'witnesses': 'Witnesses cosigned the checkpoint',
  'inclusion': '{Entry} is included in the log: its leaf hash and inclusion proof lead to the checkpoint root',
  'leaf': '{Entry} is a signed record in canonical form (RFC 8785)',
  'record-id': '{Entry} is a version of the record this page is about',
  'signer-key': 'The key that signed {entry} is registered in the log by an entry signed by the log key',
  'record-signature': "The signer's Ed25519 signature over {entry} verifies",
  'review-of-claim': 'The review is a review of this claim',
  'display': 'What this page shows is exactly what was signed',
};

/** A check's title in words; `entry` names the entry it is about ("entry 10"). */
export function checkTitle(name, entry = 'the entry') {
  const title = TITLES[name] || TITLES[name.split(':')[0]] || name;
  return title.replace('{Entry}', entry[0].toUpperCase() + entry.slice(1)).replace('{entry}', entry);
}

function shorten(text, n = 120) {
  return JSON.stringify(text.length > n ? text.slice(0, n) + '…' : text);
}

// The checks made so far; a step that throws becomes a Failure of its check.
class Checks {
  constructor() { this.list = []; }

  pass(name, detail, title = checkTitle(name)) {
    this.list.push({ name, ok: true, detail, title });
  }

  async step(name, words, fn) {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof Failure) throw e;
      throw new Failure(name, words, e && e.message ? e.message : String(e));
    }
  }
}

// 1-2. The browser can check, and the page's log key parses.
async function checkLogKey(checks, vkey) {
  if (!globalThis.isSecureContext || !globalThis.crypto || !globalThis.crypto.subtle) {
    throw new Failure('browser', 'Your browser cannot check this page: it was not loaded over a secure connection (https), so the browser does not offer its signature-checking functions (WebCrypto).',
      'crypto.subtle is missing (not a secure context)');
  }
  let logKey;
  try {
    logKey = await parseVerifierKey(vkey);
  } catch (e) {
    const unsupported = /refused the Ed25519 key/.test(e.message);
    throw new Failure(unsupported ? 'browser' : 'log-key', unsupported
      ? 'Your browser cannot check Ed25519 signatures; try a current Chrome, Edge, Firefox or Safari.'
      : 'The log key given on this page is not a valid key, so nothing can be checked against it.', e.message);
  }
  checks.pass('browser', 'crypto.subtle with Ed25519 and SHA-256');
  checks.pass('log-key', `${logKey.vkey} (fingerprint ${logKey.fingerprint})`);
  return logKey;
}

// 3-4. The checkpoint: the log key's signature, its body, and the witnesses' cosignatures.
async function checkCheckpoint(checks, noteBytes, logKey, witnessKeys) {
  const note = await checks.step('checkpoint-signature', "The log's checkpoint is not signed by the log key shown on this page.",
    async () => openNote(decodeUtf8(noteBytes, 'the checkpoint'), logKey));
  checks.pass('checkpoint-signature', `signed by ${logKey.signerId}`);
  const cp = await checks.step('checkpoint', "The log's checkpoint is malformed.", async () => parseCheckpointText(note.text));
  if (cp.origin !== logKey.name) {
    throw new Failure('checkpoint', 'The checkpoint is for another log than the one whose key this page gives.', `origin ${JSON.stringify(cp.origin)}, expected ${JSON.stringify(logKey.name)}`);
  }
  checks.pass('checkpoint', `origin ${cp.origin}, tree size ${cp.size}, root hash ${hex(cp.rootHash)}`);
  cp.witnesses = [];
  if (witnessKeys && witnessKeys.length) {
    const keys = await checks.step('witnesses', 'A witness key given on this page is not valid.',
      () => Promise.all(witnessKeys.map((w) => parseVerifierKey(w, COSIGNATURE_V1))));
    cp.witnesses = await checkCosignatures(note.text, note.others, keys);
    const bad = cp.witnesses.find((w) => !w.missing && !w.ok);
    if (bad) throw new Failure('witnesses', `The cosignature of the witness ${bad.name} on the checkpoint does not verify.`, `${bad.name}+${bad.keyId}`);
    checks.pass('witnesses', `${cp.witnesses.filter((w) => w.ok).length} of ${keys.length}: ` + cp.witnesses.map((w) =>
      w.ok ? `${w.name} at ${w.time ? w.time.toISOString() : 'an unreadable time'}` : `${w.name} did not cosign`).join('; '));
  }
  return cp;
}

// 5-9. One entry: inclusion of its exact bytes, canonical form, record ID, the
// signer's key registration, the signature. `fetchEntry(index)` gives the
// leaf and proof of any entry (the key registration's too).
async function checkEntry(checks, item, label, got, cp, logKey, fetchEntry) {
  const Label = label[0].toUpperCase() + label.slice(1);
  const hash = await leafHash(got.leaf);
  await checks.step('inclusion', `${Label} is not in the log: its bytes or its inclusion proof do not match the checkpoint.`, async () =>
    verifyInclusion(item.index, cp.size, hash, got.proof, cp.rootHash));
  checks.pass('inclusion', `leaf hash ${hex(hash)}, ${got.proof.length} proof hashes, tree size ${cp.size}`, checkTitle('inclusion', label));

  const entry = await checks.step('leaf', `${Label} is not a well-formed signed record.`, async () => parseLeaf(got.leaf));
  const { record } = entry;
  checks.pass('leaf', `${record.kind} ${record.id} version ${record.version}, signed by ${entry.signer}`, checkTitle('leaf', label));
  if (item.recordId !== undefined && item.recordId !== null && item.recordId !== '') {
    if (record.id !== item.recordId) throw new Failure('record-id', `${Label} is not a version of ${item.recordId}, the record this page shows.`, `it is ${record.id}`);
    checks.pass('record-id', `version ${record.version} of ${record.id}`, checkTitle('record-id', label));
  }

  const { signerKey, registration, keyIndex } = await checkSignerKey(checks, item, label, entry, got, cp, logKey, fetchEntry);
  const who = registration.display_name || entry.signer;
  if (!(await verifyEd25519(signerKey, entry.signature, signedMessage(cp.origin, entry.recordBytes)))) {
    throw new Failure('record-signature', `The signature on ${label} does not verify: the record is not what ${who} signed.`, `Ed25519 signature by ${entry.signer}`);
  }
  checks.pass('record-signature', `signed by ${who} (${entry.signer}) on ${record.created}`, checkTitle('record-signature', label));
  return { index: item.index, role: item.role, id: record.id, version: record.version, kind: record.kind, record,
    signer: who, signerId: entry.signer, signedAt: record.created, keyEntry: keyIndex };
}

// 8. The key that signed `entry`, from its registration entry, itself verified.
async function checkSignerKey(checks, item, label, entry, got, cp, logKey, fetchEntry) {
  let keyIndex = item.keyEntry;
  let keyGot = null;
  if (got.key) { // a tlog-proof bundle names the registration itself
    if (Number.isSafeInteger(keyIndex) && keyIndex !== got.key.index) {
      throw new Failure('signer-key', `The page and the proof bundle disagree on where the key that signed ${label} is registered.`, `page: entry ${keyIndex}, bundle: entry ${got.key.index}`);
    }
    keyIndex = got.key.index;
    keyGot = got.key;
  }
  if (!Number.isSafeInteger(keyIndex) && entry.signer === logKey.signerId) keyIndex = 0; // entry 0 registers the log key
  if (!Number.isSafeInteger(keyIndex)) {
    throw new Failure('signer-key', `The page does not say which log entry registers the key that signed ${label}.`, `no key entry for ${entry.signer}`);
  }
  const words = `The key that signed ${label} is not registered in the log.`;
  const fail = (detail) => new Failure('signer-key', words, detail);
  const { record } = entry;
  const selfRegistered = keyIndex === 0 && item.index === 0 && record.kind === 'key' && record.vkey === logKey.vkey;
  if (keyIndex >= item.index && !selfRegistered) throw fail(`the key entry ${keyIndex} does not come before entry ${item.index}`);
  if (keyIndex >= cp.size) throw fail(`entry ${keyIndex} is not in the tree of size ${cp.size}`);
  if (!keyGot) keyGot = await (keyIndex === item.index ? got : fetchEntry(keyIndex));
  const keyLeafHash = await leafHash(keyGot.leaf);
  await checks.step('signer-key', `${words} (The entry that should register it is not in the log.)`, async () =>
    verifyInclusion(keyIndex, cp.size, keyLeafHash, keyGot.proof, cp.rootHash));
  const keyEntry = await checks.step('signer-key', words, async () => parseLeaf(keyGot.leaf));
  const registration = keyEntry.record;
  if (registration.kind !== 'key') throw fail(`entry ${keyIndex} is a ${registration.kind} record, not a key registration`);
  if (keyEntry.signer !== logKey.signerId) throw fail(`entry ${keyIndex} is signed by ${keyEntry.signer}, not by the log key`);
  if (!(await verifyEd25519(logKey, keyEntry.signature, signedMessage(logKey.name, keyEntry.recordBytes)))) {
    throw fail(`the log key's signature on entry ${keyIndex} does not verify`);
  }
  if (registration.status !== 'active') throw fail(`entry ${keyIndex} registers a key with status ${registration.status}`);
  const signerKey = await checks.step('signer-key', words, () => parseVerifierKey(registration.vkey));
  if (signerKey.signerId !== entry.signer) throw fail(`entry ${keyIndex} registers ${signerKey.signerId}, but ${label} is signed by ${entry.signer}`);
  checks.pass('signer-key', `${entry.signer} (${registration.display_name}, ${registration.role}) registered by entry ${keyIndex}, signed by the log key, included`,
    checkTitle('signer-key', label));
  return { signerKey, registration, keyIndex };
}

// 10. The review whose verdict a claim page shows is a review of that claim.
function checkReviewOfClaim(checks, claim, review, label) {
  if (review.kind !== 'review' || review.claim !== claim.id) {
    throw new Failure('review-of-claim', `The verdict shown is not from a review of this claim (${label} is ${review.kind === 'review' ? 'about ' + review.claim : 'not a review'}).`, `${review.id} → ${review.claim}`);
  }
  checks.pass('review-of-claim', `${review.id} reviews ${review.claim}`);
}

// 11. Each value the page marks is exactly the signed field.
function checkDisplayed(checks, record, displayed, where) {
  for (const shown of displayed) {
    const name = `display:${shown.field}`;
    const signed = fieldValue(record, shown.field);
    if (signed === undefined || signed === null || typeof signed === 'object') {
      throw new Failure(name, `This page shows a ${fieldWords(shown.field)}${where} that is not in the signed record.`, `${record.id} has no field ${shown.field}`);
    }
    if (String(signed) !== shown.text) {
      throw new Failure(name, `The ${fieldWords(shown.field)}${where} shown on this page is not what was signed.`,
        `shown ${shorten(shown.text, 300)}, signed ${shorten(String(signed), 300)}`);
    }
    checks.pass(name, shorten(shown.text), `The ${fieldWords(shown.field)}${where} shown is exactly what was signed`);
  }
}

function makeReader(options) {
  if (options.reader) return options.reader;
  const fetcher = options.fetch || globalThis.fetch.bind(globalThis);
  switch (options.source || 'routes') {
    case 'tiles': return tilesReader(options.base || '/-/tlog/', fetcher);
    case 'tlog-proof': return tlogProofReader(options.base || '/', fetcher);
    case 'routes': return routesReader(options.base || '/', fetcher);
    default: throw new Failure('page', 'This page asks for its proofs in a way this script does not know.', `data-source ${options.source}`);
  }
}

/**
 * Verify one entry, and the values a page displays from it.
 *
 * options:
 *   logVkey      the log's verifier key (the page gives it; required)
 *   entry        the entry index (required)
 *   recordId     the record ID the entry must be a version of (optional)
 *   keyEntry     index of the entry registering the signer's key (routes and
 *                tiles; for entries signed by the log key it defaults to 0)
 *   displayed    [{field: "text", text: "what the page shows"}, ...]
 *   related      [{entry, keyEntry, recordId, role: "review", displayed}, ...]:
 *                other entries the page shows values from, checked the same way
 *   witnesses    witness verifier keys (type 0x04) whose cosignatures to show
 *   source       "routes" (default), "tlog-proof" or "tiles"
 *   base         URL prefix of the routes ("/") or of the tiles ("/-/tlog/")
 *   reader       a reader object instead of source/base (tests)
 *   fetch        the fetch function (default: the browser's)
 *
 * Resolves to {ok, checks: [{name, ok, detail, title, words}], signer, signerId,
 * signedAt, index, treeSize, logKeyFingerprint, logKey, failed, witnesses,
 * entries, ms}; never rejects: any failure is a failed check.
 */
export async function verifyEntry(options) {
  const started = performance.now();
  const checks = new Checks();
  const result = {
    ok: false, checks: checks.list, signer: null, signerId: null, signedAt: null, index: options.entry, treeSize: null,
    logKeyFingerprint: null, logKey: null, failed: null, witnesses: [], entries: [], ms: 0,
  };
  try {
    const logKey = await checkLogKey(checks, options.logVkey);
    result.logKey = logKey.vkey;
    result.logKeyFingerprint = logKey.fingerprint;

    const main = { index: options.entry, keyEntry: options.keyEntry, recordId: options.recordId, displayed: options.displayed || [], role: null };
    const items = [main, ...(options.related || []).map((r) => (
      { index: r.entry, keyEntry: r.keyEntry, recordId: r.recordId, displayed: r.displayed || [], role: r.role || 'related' }))];
    for (const item of items) {
      if (!Number.isSafeInteger(item.index) || item.index < 0) throw new Failure('page', 'This page does not say which log entry to check.', `entry index ${item.index}`);
    }

    // Ask for everything known to be needed at once (readers that can), then the checkpoint.
    const reader = makeReader(options);
    if (reader.prefetch) {
      reader.prefetch(items.flatMap((item) => (Number.isSafeInteger(item.keyEntry) && reader.kind === 'routes' ? [item.index, item.keyEntry] : [item.index])));
    }
    const cp = await checkCheckpoint(checks, await reader.checkpoint(main.index), logKey, options.witnesses);
    result.treeSize = cp.size;
    result.witnesses = cp.witnesses;

    const wanted = new Map();
    const fetchEntry = (index) => {
      if (!wanted.has(index)) wanted.set(index, reader.entry(index, cp.size));
      return wanted.get(index);
    };
    for (const item of items) {
      if (item.index >= cp.size) throw new Failure('inclusion', `Entry ${item.index} is not in the log's checkpoint (size ${cp.size}).`, `entry ${item.index}, tree size ${cp.size}`);
      fetchEntry(item.index);
      // A tlog-proof bundle carries its key registration; the other readers fetch it.
      if (reader.kind !== 'tlog-proof' && Number.isSafeInteger(item.keyEntry) && item.keyEntry < cp.size) fetchEntry(item.keyEntry);
    }
    for (const pending of wanted.values()) pending.catch(() => {}); // reported in order below

    for (const item of items) {
      const label = item === main ? `entry ${item.index}` : `the ${item.role} (entry ${item.index})`;
      const checked = await checkEntry(checks, item, label, await fetchEntry(item.index), cp, logKey, fetchEntry);
      item.record = checked.record;
      result.entries.push(checked);
      if (item !== main && item.role === 'review' && main.record.kind === 'claim') checkReviewOfClaim(checks, main.record, item.record, label);
    }
    Object.assign(result, { signer: result.entries[0].signer, signerId: result.entries[0].signerId, signedAt: result.entries[0].signedAt });
    for (const item of items) checkDisplayed(checks, item.record, item.displayed, item === main ? '' : ` of the ${item.role}`);
    result.ok = true;
  } catch (e) {
    const failure = e instanceof Failure ? e : new Failure('internal', 'The check stopped on an unexpected error.', e && e.stack ? e.stack : String(e));
    checks.list.push({ name: failure.check, ok: false, detail: failure.detail, title: checkTitle(failure.check), words: failure.words });
    result.failed = { name: failure.check, words: failure.words, detail: failure.detail };
  }
  result.ms = performance.now() - started;
  return result;
}

// ---------------------------------------------------------------------------
// The page: read the inputs from data attributes, show the result in words.
// ---------------------------------------------------------------------------

function integerAttribute(el, name) {
  const value = el.getAttribute(name);
  return value !== null && /^(?:0|[1-9][0-9]{0,15})$/.test(value) ? Number(value) : undefined;
}

/** The options of verifyEntry from the page: the panel's data attributes and
 *  every element marked data-signed-field in `root` (see docs/browser-verify.md). */
export function readPage(panel, root = panel.ownerDocument) {
  const main = integerAttribute(panel, 'data-entry');
  const options = {
    logVkey: (panel.getAttribute('data-log-vkey') || '').trim(),
    entry: main,
    keyEntry: integerAttribute(panel, 'data-key-entry'),
    recordId: panel.getAttribute('data-record-id') || undefined,
    source: panel.getAttribute('data-source') || 'routes',
    base: panel.getAttribute('data-base') || undefined,
    witnesses: (panel.getAttribute('data-witness-vkeys') || '').split(/\s+/).filter(Boolean),
    displayed: [],
    related: [],
  };
  const related = new Map();
  for (const el of root.querySelectorAll('[data-signed-field]')) {
    const index = el.hasAttribute('data-signed-entry') ? integerAttribute(el, 'data-signed-entry') : main;
    const shown = { field: el.getAttribute('data-signed-field'), text: el.textContent };
    if (index === main) { options.displayed.push(shown); continue; }
    if (!related.has(index)) {
      related.set(index, { entry: index, role: el.getAttribute('data-signed-role') || 'review', displayed: [] });
      options.related.push(related.get(index));
    }
    const r = related.get(index);
    if (r.keyEntry === undefined) r.keyEntry = integerAttribute(el, 'data-signed-key-entry');
    if (r.recordId === undefined && el.hasAttribute('data-signed-record-id')) r.recordId = el.getAttribute('data-signed-record-id');
    r.displayed.push(shown);
  }
  return options;
}

function formatDate(created) {
  const date = new Date(created);
  if (Number.isNaN(date.getTime())) return created;
  return new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' }).format(date);
}

/** The fingerprint in groups of eight hex digits, as the page shows it. */
export function formatFingerprint(fp) {
  return fp ? fp.match(/.{1,8}/g).join(' ') : '';
}

/** The result in one sentence of plain words. */
export function summarize(result) {
  if (result.ok) {
    const main = `Signed by ${result.signer} on ${formatDate(result.signedAt)}, included in the log at entry ${result.index} of ${result.treeSize}, ` +
      `log key fingerprint ${formatFingerprint(result.logKeyFingerprint)}: verified in your browser.`;
    const others = result.entries.slice(1).map((e) => ` The ${e.role || 'related record'} (entry ${e.index}) was signed by ${e.signer} on ${formatDate(e.signedAt)}.`);
    const cosigned = result.witnesses.filter((w) => w.ok).map((w) => `${w.name}${w.time ? ' (' + w.time.toISOString().replace('.000Z', 'Z') + ')' : ''}`);
    const witnesses = result.witnesses.length ? ` Cosigned by ${cosigned.length ? cosigned.join(', ') : 'none'} of ${result.witnesses.length} witnesses.` : '';
    return main + others.join('') + witnesses;
  }
  if (!result.failed) return 'Checking in your browser…';
  return `Not verified in your browser: ${result.failed.words}`;
}

function el(doc, tag, attrs = {}, ...children) {
  const node = doc.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

/** Show "checking" in `element` (data-verification="checking"). */
export function renderChecking(element) {
  element.setAttribute('data-verification', 'checking');
  element.removeAttribute('data-verification-check');
  element.replaceChildren(el(element.ownerDocument, 'p', { class: 'verification-summary' }, 'Checking this record in your browser…'));
}

/** Render a result of verifyEntry into `element`: a sentence, then a
 *  <details> listing each check. Sets data-verification to "verified" or
 *  "failed" and, when failed, data-verification-check to the failing check's name.
 *  Only text nodes are created: nothing from the record is parsed as HTML. */
export function renderVerification(element, result) {
  const doc = element.ownerDocument;
  element.setAttribute('data-verification', result.ok ? 'verified' : 'failed');
  if (result.ok) element.removeAttribute('data-verification-check');
  else element.setAttribute('data-verification-check', result.failed ? result.failed.name : 'unknown');
  const list = el(doc, 'ol', { class: 'verification-checks' });
  for (const c of result.checks) {
    const item = el(doc, 'li', { class: c.ok ? 'check-ok' : 'check-failed', 'data-check': c.name },
      c.ok ? `✓ ${c.title}` : `✗ ${c.words}`);
    if (c.detail) item.append(el(doc, 'div', { class: 'check-detail' }, el(doc, 'code', {}, c.detail)));
    list.append(item);
  }
  const details = el(doc, 'details', { class: 'verification-details' },
    el(doc, 'summary', {}, result.ok ? `What was checked (${result.checks.length} checks, ${Math.round(result.ms)} ms)` : 'What was checked, and what failed'),
    list);
  if (result.logKey) {
    details.append(el(doc, 'p', { class: 'verification-key' }, 'Log key used: ', el(doc, 'code', {}, result.logKey),
      ' · fingerprint (SHA-256 of the key line) ', el(doc, 'code', {}, formatFingerprint(result.logKeyFingerprint)),
      '. Compare it with the fingerprint the publisher announces elsewhere: this check trusts the key this page gives.'));
  }
  element.replaceChildren(
    el(doc, 'p', { class: 'verification-summary', role: 'status' }, (result.ok ? '✓ ' : '✗ ') + summarize(result)),
    details);
}

/** Verify every [data-ledger-verify] panel in `root` and render the results.
 *  This is the one call a page needs; the module makes it on load. */
export async function verifyPage(root = document) {
  const panels = Array.from(root.querySelectorAll('[data-ledger-verify]'));
  return Promise.all(panels.map(async (panel) => {
    renderChecking(panel);
    const result = await verifyEntry(readPage(panel, root));
    renderVerification(panel, result);
    return result;
  }));
}

// A module script runs after the document is parsed; a page that includes this
// file with a [data-ledger-verify] panel is checked without any inline script.
if (typeof document !== 'undefined' && document.querySelector('[data-ledger-verify]')) {
  verifyPage(document);
}
