// Validates rendered objects against the JSON schemas in infra/schemas/k8s (strict subsets of the
// Kubernetes and KEDA APIs: an unknown or misspelt field fails, as `kubectl apply` would refuse it).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';

const BY_KIND = {
  'apps/v1 Deployment': 'deployment.json',
  'apps/v1 StatefulSet': 'statefulset.json',
  'v1 Service': 'service.json',
  'v1 ConfigMap': 'configmap.json',
  'v1 Secret': 'secret.json',
  'autoscaling/v2 HorizontalPodAutoscaler': 'horizontalpodautoscaler.json',
  'policy/v1 PodDisruptionBudget': 'poddisruptionbudget.json',
  'keda.sh/v1alpha1 ScaledObject': 'scaledobject.json',
};

export function loadSchemas(dir) {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  const ids = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const schema = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    ajv.addSchema(schema);
    ids[file] = schema.$id;
  }
  return (object) => {
    const file = BY_KIND[`${object.apiVersion} ${object.kind}`];
    if (!file) return [`no schema for ${object.apiVersion} ${object.kind} (add one under infra/schemas/k8s)`];
    const validate = ajv.getSchema(ids[file]);
    if (validate(object)) return [];
    return validate.errors.map((e) => {
      const extra = e.keyword === 'additionalProperties' ? ` (${e.params.additionalProperty})` : '';
      return `${e.instancePath || '/'} ${e.message}${extra}`;
    });
  };
}
