// Unknown fields in Kubernetes objects. The OpenAPI schema kubernetes-models validates against
// leaves additionalProperties open, so a misspelt field (readOnlyRootFileSystem) passes it and
// the API server would drop it silently; this walks an object along the TypeScript declarations
// kubernetes-models ships (one interface per schema, generated from the same OpenAPI) and
// returns the path of every field the schema does not have.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modules = resolve(here, '../node_modules');
const cache = new Map();

// The declaration file of an import specifier seen in `from`.
function dtsOf(spec, from) {
  let p = spec.startsWith('.') ? resolve(dirname(from), spec) : join(modules, spec);
  p = p.replace(/\.js$/, '');
  for (const c of [p + '.d.ts', join(p, 'index.d.ts')]) if (existsSync(c)) return c;
  throw new Error(`no declarations for ${spec} (from ${from})`);
}

// A type's text: a reference to another interface, an array, a map, an inline object, or a leaf.
function parseType(t, file, imports) {
  t = t.trim();
  let m;
  if ((m = /^Array<([\s\S]*)>$/.exec(t))) return { array: parseType(m[1], file, imports) };
  if ((m = /^\{\s*\[key: string\]:\s*([\s\S]*?);?\s*\}$/.exec(t))) return { map: parseType(m[1], file, imports) };
  if (t.startsWith('{')) return { props: parseProps(t.slice(1, t.lastIndexOf('}')), file, imports) };
  if (imports[t]) return { ref: dtsOf(imports[t], file) };
  return { leaf: t };
}

// `"name"?: TYPE;` declarations at depth 0 of an interface or inline object body.
function parseProps(body, file, imports) {
  body = body.replace(/\/\*[\s\S]*?\*\//g, '');
  const props = {};
  let i = 0;
  const re = /"([^"]+)"\??:\s*/y;
  while (i < body.length) {
    if (/\s/.test(body[i])) { i++; continue; }
    re.lastIndex = i;
    const m = re.exec(body);
    if (!m) throw new Error(`cannot read ${file} near ${body.slice(i, i + 60)}`);
    let j = re.lastIndex;
    let depth = 0;
    for (; j < body.length; j++) {
      const c = body[j];
      if (c === '{' || c === '<' || c === '(') depth++;
      else if (c === '}' || c === '>' || c === ')') depth--;
      else if (c === ';' && depth === 0) break;
    }
    props[m[1]] = body.slice(re.lastIndex, j);
    i = j + 1;
  }
  for (const k of Object.keys(props)) props[k] = parseType(props[k], file, imports);
  return props;
}

// The fields of the first interface a declaration file exports (null for a type alias).
function schemaOf(file) {
  if (cache.has(file)) return cache.get(file);
  // Comments out first: their text may hold braces.
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const imports = {};
  for (const m of text.matchAll(/^import \{ ([^}]+) \} from "([^"]+)";$/gm)) {
    for (const name of m[1].split(',').map((s) => s.trim())) imports[name] = m[2];
  }
  const start = /^export interface \w+(?: extends ([\w, ]+))? \{$/m.exec(text);
  if (!start) { // a type alias (Quantity, IntOrString, Time): a leaf
    cache.set(file, null);
    return null;
  }
  let depth = 0;
  let end = start.index + start[0].length - 1;
  for (; end < text.length; end++) {
    if (text[end] === '{') depth++;
    else if (text[end] === '}' && --depth === 0) break;
  }
  const props = parseProps(text.slice(start.index + start[0].length, end), file, imports);
  // What it extends: TypeMeta (apiVersion, kind), or another schema's interface.
  for (const base of (start[1] || '').split(',').map((b) => b.trim()).filter((b) => b)) {
    if (base === 'TypeMeta') props.apiVersion = props.kind = { leaf: 'string' };
    else if (imports[base]) Object.assign(props, { ...schemaOf(dtsOf(imports[base], file)), ...props });
    else throw new Error(`${file}: cannot follow 'extends ${base}'`);
  }
  cache.set(file, props);
  return props;
}

function walk(value, type, path, out) {
  if (value === null || value === undefined) return;
  if (type.array) { if (Array.isArray(value)) value.forEach((v, i) => walk(v, type.array, `${path}[${i}]`, out)); return; }
  if (type.map) { if (typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, type.map, `${path}.${k}`, out); return; }
  const props = type.ref ? schemaOf(type.ref) : type.props;
  if (!props || typeof value !== 'object' || Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value)) {
    if (!(k in props)) out.push(`${path}.${k}`);
    else walk(v, props[k], `${path}.${k}`, out);
  }
}

// The paths of fields `obj` has that its kind's schema does not; `model` is the module path of
// the kind (kubernetes-models/apps/v1/Deployment).
export function unknownFields(obj, model) {
  const out = [];
  walk(obj, { ref: dtsOf(model, join(modules, 'x')) }, obj.kind, out);
  return out;
}
