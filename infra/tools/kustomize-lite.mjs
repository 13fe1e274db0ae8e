// A small kustomize for the offline check: renders the kustomizations under infra/k8s without a
// kubectl. It knows only the fields this project uses (resources, namespace, labels, images,
// replicas and JSON 6902 patches) and refuses anything else, so a new feature cannot be skipped
// silently; validate.mjs compares its output with `kubectl kustomize` wherever one is installed.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

const KNOWN = new Set([
  'apiVersion',
  'kind',
  'resources',
  'namespace',
  'labels',
  'images',
  'replicas',
  'patches',
]);
// Kinds the namespace transformer leaves alone.
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'StorageClass',
]);

/** YAML 1.1, as the API server reads it: an unquoted `yes` or `on` is a boolean there too. */
export function readYamlDocs(file) {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { version: '1.1' });
  const out = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0].message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function kustomizationFile(dir) {
  for (const name of ['kustomization.yaml', 'kustomization.yml', 'Kustomization']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

export function isKustomization(dir) {
  return kustomizationFile(dir) !== null;
}

/** Renders a kustomization directory to a list of objects. */
export function render(dir) {
  const file = kustomizationFile(dir);
  if (!file) throw new Error(`${dir}: no kustomization.yaml`);
  const [k] = readYamlDocs(file);
  for (const key of Object.keys(k)) {
    if (!KNOWN.has(key))
      throw new Error(`${file}: "${key}" is not supported by infra/tools/kustomize-lite.mjs`);
  }
  let objects = [];
  for (const entry of k.resources ?? []) {
    const path = resolve(dir, entry);
    if (statSync(path).isDirectory()) objects.push(...render(path));
    else objects.push(...readYamlDocs(path));
  }
  objects = structuredClone(objects);
  for (const patch of k.patches ?? []) applyPatch(objects, patch, dir, file);
  for (const label of k.labels ?? []) addLabels(objects, label, file);
  for (const image of k.images ?? []) setImages(objects, image);
  for (const r of k.replicas ?? []) {
    for (const o of objects)
      if (o.metadata?.name === r.name && o.spec && 'replicas' in o.spec) o.spec.replicas = r.count;
  }
  if (k.namespace) {
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  }
  return objects;
}

function addLabels(objects, label, file) {
  if (label.includeSelectors || label.includeTemplates) {
    throw new Error(
      `${file}: labels with includeSelectors/includeTemplates are not supported by kustomize-lite`,
    );
  }
  for (const o of objects) o.metadata.labels = { ...(o.metadata.labels ?? {}), ...label.pairs };
}

function splitImage(image) {
  const at = image.indexOf('@');
  const body = at >= 0 ? image.slice(0, at) : image;
  const colon = body.lastIndexOf(':');
  const slash = body.lastIndexOf('/');
  return colon > slash
    ? { name: body.slice(0, colon), tag: body.slice(colon + 1) }
    : { name: body, tag: null };
}

function setImages(objects, rule) {
  for (const o of objects) {
    const spec = o.spec?.template?.spec;
    if (!spec) continue;
    for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
      const { name, tag } = splitImage(c.image);
      if (name !== rule.name) continue;
      const newName = rule.newName ?? name;
      if (rule.digest) c.image = `${newName}@${rule.digest}`;
      else if (rule.newTag) c.image = `${newName}:${rule.newTag}`;
      else c.image = tag ? `${newName}:${tag}` : newName;
    }
  }
}

function matchesTarget(o, t) {
  if (t.kind && o.kind !== t.kind) return false;
  if (t.name && o.metadata?.name !== t.name) return false;
  if (t.namespace && o.metadata?.namespace !== t.namespace) return false;
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  if (t.group !== undefined && t.group !== group) return false;
  if (t.version !== undefined && t.version !== version) return false;
  return true;
}

function applyPatch(objects, patch, dir, file) {
  if (!patch.target) throw new Error(`${file}: kustomize-lite supports only JSON 6902 patches with a target`);
  const text = patch.patch ?? readFileSync(resolve(dir, patch.path), 'utf8');
  const [ops] = parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS());
  if (!Array.isArray(ops)) throw new Error(`${file}: a patch must be a JSON 6902 list of operations`);
  const targets = objects.filter((o) => matchesTarget(o, patch.target));
  if (targets.length === 0)
    throw new Error(`${file}: patch target ${JSON.stringify(patch.target)} matches nothing`);
  for (const o of targets) for (const op of ops) applyOp(o, op, file);
}

const unescapePointer = (s) => s.replaceAll('~1', '/').replaceAll('~0', '~');

function applyOp(root, op, file) {
  const parts = op.path.split('/').slice(1).map(unescapePointer);
  const last = parts.pop();
  let parent = root;
  for (const p of parts) {
    parent = Array.isArray(parent) ? parent[Number(p)] : parent?.[p];
    if (parent === undefined) throw new Error(`${file}: patch path ${op.path} does not exist`);
  }
  const isArray = Array.isArray(parent);
  const index = last === '-' ? parent.length : Number(last);
  switch (op.op) {
    case 'add':
      if (isArray) parent.splice(index, 0, op.value);
      else parent[last] = op.value;
      return;
    case 'replace':
      if (isArray ? index >= parent.length : !(last in parent)) {
        throw new Error(`${file}: patch path ${op.path} does not exist`);
      }
      if (isArray) parent[index] = op.value;
      else parent[last] = op.value;
      return;
    case 'remove':
      if (isArray) parent.splice(index, 1);
      else delete parent[last];
      return;
    default:
      throw new Error(`${file}: JSON patch op "${op.op}" is not supported by kustomize-lite`);
  }
}
