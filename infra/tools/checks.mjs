// Cross-object checks a schema cannot express: selectors that select, references that resolve,
// scalers that read the queues our workers consume, settings the services themselves accept.
const WORKLOADS = new Set(['Deployment', 'StatefulSet']);
const QUEUE_OF = {
  'services/llm-worker/dist/main.js': '{chat}',
  'services/tts-worker/dist/main.js': '{tts}',
};
const TIMEOUT_OF = { '{chat}': 'LLM_TIMEOUT_MS', '{tts}': 'TTS_TIMEOUT_MS' };
// Keys our ConfigMap may carry that the services do not read themselves.
const EXTRA_KEYS = new Set(['REDIS_ADDRESS', 'METRICS_PORT']);

const subset = (small = {}, big = {}) => Object.entries(small).every(([k, v]) => big[k] === v);
const id = (o) => `${o.kind}/${o.metadata.name}`;
const containersOf = (o) => o.spec?.template?.spec?.containers ?? [];
const b64 = (s) => Buffer.from(s, 'base64').toString('utf8');

/**
 * @param objects rendered objects of one kustomization
 * @param ctx { complete: references must resolve within the render; parseConfig, envKeys: the services' own config }
 */
export function checkObjects(objects, ctx) {
  const errors = [];
  const warnings = [];
  const find = (kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const workloads = objects.filter((o) => WORKLOADS.has(o.kind));
  const scaled = new Set(
    objects.filter((o) => o.kind === 'ScaledObject').map((o) => o.spec.scaleTargetRef.name),
  );

  /** The environment a container sees: envFrom ConfigMaps/Secrets, then env values. */
  const envOf = (c) => {
    const env = {};
    for (const from of c.envFrom ?? []) {
      if (from.configMapRef) Object.assign(env, find('ConfigMap', from.configMapRef.name)?.data);
      const secret = from.secretRef && find('Secret', from.secretRef.name);
      if (secret) {
        for (const [k, v] of Object.entries(secret.data ?? {})) env[k] = b64(v);
        Object.assign(env, secret.stringData);
      }
    }
    for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    return env;
  };

  for (const w of workloads) {
    const labels = w.spec.template.metadata?.labels;
    if (!subset(w.spec.selector.matchLabels, labels))
      errors.push(`${id(w)}: selector does not match its pod labels`);
    const volumes = new Set((w.spec.template.spec.volumes ?? []).map((v) => v.name));
    for (const t of w.spec.volumeClaimTemplates ?? []) volumes.add(t.metadata.name);
    for (const c of containersOf(w)) {
      const where = `${id(w)} container ${c.name}`;
      const names = new Set((c.ports ?? []).map((p) => p.name).filter(Boolean));
      const numbers = new Set((c.ports ?? []).map((p) => p.containerPort));
      for (const [probeName, probe] of Object.entries({
        readiness: c.readinessProbe,
        liveness: c.livenessProbe,
        startup: c.startupProbe,
      })) {
        const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
        if (port === undefined) continue;
        if (typeof port === 'string' ? !names.has(port) : !numbers.has(port)) {
          errors.push(`${where}: ${probeName} probe port ${port} is not one of its ports`);
        }
      }
      for (const m of c.volumeMounts ?? [])
        if (!volumes.has(m.name)) errors.push(`${where}: mounts unknown volume ${m.name}`);
      if (!c.resources?.requests) errors.push(`${where}: no resource requests`);
      if (ctx.complete) checkContainerRefs(c, where);
      const queue = QUEUE_OF[c.args?.[0]];
      if (queue && ctx.complete) {
        const timeoutVar = TIMEOUT_OF[queue];
        const timeoutS = Number(envOf(c)[timeoutVar] ?? 60_000) / 1000;
        const grace = w.spec.template.spec.terminationGracePeriodSeconds ?? 30;
        if (grace <= timeoutS) {
          errors.push(
            `${where}: terminationGracePeriodSeconds ${grace} must exceed ${timeoutVar} (${timeoutS} s)`,
          );
        }
      }
      if (ctx.complete && c.args?.[0]?.startsWith('services/')) checkServiceEnv(c, where);
    }
    if (ctx.complete) {
      for (const v of w.spec.template.spec.volumes ?? []) {
        if (v.configMap && !v.configMap.optional && !find('ConfigMap', v.configMap.name)) {
          errors.push(`${id(w)}: volume ${v.name} names missing ConfigMap ${v.configMap.name}`);
        }
        if (v.secret && !v.secret.optional && !find('Secret', v.secret.secretName)) {
          errors.push(`${id(w)}: volume ${v.name} names missing Secret ${v.secret.secretName}`);
        }
      }
      for (const c of containersOf(w)) {
        const image = c.image;
        if (!/[:@]/.test(image.split('/').pop()) || image.endsWith(':latest')) {
          warnings.push(`${id(w)} container ${c.name}: image ${image} has no fixed tag`);
        }
      }
    }
  }

  function checkContainerRefs(c, where) {
    for (const from of c.envFrom ?? []) {
      const ref = from.configMapRef ?? from.secretRef;
      const kind = from.configMapRef ? 'ConfigMap' : 'Secret';
      if (!ref.optional && !find(kind, ref.name))
        errors.push(`${where}: envFrom names missing ${kind} ${ref.name}`);
    }
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.configMapKeyRef ?? e.valueFrom?.secretKeyRef;
      if (!ref || ref.optional) continue;
      const kind = e.valueFrom.configMapKeyRef ? 'ConfigMap' : 'Secret';
      const o = find(kind, ref.name);
      const keys = { ...o?.data, ...o?.stringData };
      if (!(ref.key in keys))
        errors.push(`${where}: env ${e.name} names missing ${kind} key ${ref.name}/${ref.key}`);
    }
  }

  /** The services' own parser must accept what the manifests give them. */
  function checkServiceEnv(c, where) {
    const env = envOf(c);
    const unknown = Object.keys(env).filter((k) => !ctx.envKeys.has(k) && !EXTRA_KEYS.has(k));
    if (unknown.length > 0) errors.push(`${where}: variables no service reads: ${unknown.join(', ')}`);
    try {
      ctx.parseConfig(env);
    } catch (err) {
      errors.push(`${where}: ${err.message}`);
    }
  }

  for (const s of objects.filter((o) => o.kind === 'Service')) {
    const pods = workloads.filter((w) => subset(s.spec.selector, w.spec.template.metadata?.labels));
    if (pods.length === 0) {
      errors.push(`${id(s)}: selector matches no workload`);
      continue;
    }
    for (const p of s.spec.ports) {
      const target = p.targetPort ?? p.port;
      const ok = pods.some((w) =>
        containersOf(w).some((c) =>
          (c.ports ?? []).some((cp) =>
            typeof target === 'string' ? cp.name === target : cp.containerPort === target,
          ),
        ),
      );
      if (!ok)
        errors.push(
          `${id(s)}: port ${p.name ?? p.port} targets ${target}, which no selected container exposes`,
        );
    }
  }

  for (const w of objects.filter((o) => o.kind === 'StatefulSet' && o.spec.serviceName)) {
    const svc = find('Service', w.spec.serviceName);
    if (!svc) errors.push(`${id(w)}: serviceName ${w.spec.serviceName} names no Service`);
    else if (svc.spec.clusterIP !== 'None')
      warnings.push(`${id(w)}: Service ${svc.metadata.name} is not headless`);
  }

  for (const h of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
    const target = find(h.spec.scaleTargetRef.kind, h.spec.scaleTargetRef.name);
    if (!target) errors.push(`${id(h)}: scaleTargetRef names no ${h.spec.scaleTargetRef.kind}`);
    if (scaled.has(h.spec.scaleTargetRef.name))
      errors.push(`${id(h)}: its target is also scaled by a KEDA ScaledObject`);
    if ((h.spec.minReplicas ?? 1) > h.spec.maxReplicas) errors.push(`${id(h)}: minReplicas > maxReplicas`);
    const cpu = h.spec.metrics?.some(
      (m) => m.resource?.name === 'cpu' && m.resource.target.type === 'Utilization',
    );
    if (target && cpu && containersOf(target).some((c) => !c.resources?.requests?.cpu)) {
      errors.push(`${id(h)}: CPU utilization needs a cpu request on every container of ${id(target)}`);
    }
  }

  for (const p of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
    const pods = workloads.filter((w) =>
      subset(p.spec.selector.matchLabels, w.spec.template.metadata?.labels),
    );
    if (pods.length === 0) errors.push(`${id(p)}: selector matches no workload`);
    if (p.spec.minAvailable === undefined && p.spec.maxUnavailable === undefined)
      errors.push(`${id(p)}: sets neither minAvailable nor maxUnavailable`);
    for (const w of pods) {
      if (
        typeof p.spec.minAvailable === 'number' &&
        (w.spec.replicas ?? 1) <= p.spec.minAvailable &&
        !hpaMin(w)
      ) {
        warnings.push(
          `${id(p)}: minAvailable ${p.spec.minAvailable} with ${w.spec.replicas ?? 1} replica(s) of ${id(w)} blocks node drains`,
        );
      }
    }
  }

  function hpaMin(w) {
    const h = objects.find(
      (o) => o.kind === 'HorizontalPodAutoscaler' && o.spec.scaleTargetRef.name === w.metadata.name,
    );
    return h && (h.spec.minReplicas ?? 1) > 1;
  }

  for (const so of objects.filter((o) => o.kind === 'ScaledObject')) {
    const target = find(so.spec.scaleTargetRef.kind ?? 'Deployment', so.spec.scaleTargetRef.name);
    if (!target) {
      errors.push(`${id(so)}: scaleTargetRef names no Deployment ${so.spec.scaleTargetRef.name}`);
      continue;
    }
    if ((so.spec.minReplicaCount ?? 0) > (so.spec.maxReplicaCount ?? 100))
      errors.push(`${id(so)}: minReplicaCount > maxReplicaCount`);
    if (target.spec.replicas !== undefined)
      warnings.push(`${id(so)}: ${id(target)} sets replicas, which fights KEDA on every apply`);
    const container = so.spec.scaleTargetRef.envSourceContainerName
      ? containersOf(target).find((c) => c.name === so.spec.scaleTargetRef.envSourceContainerName)
      : containersOf(target)[0];
    const queue = QUEUE_OF[container?.args?.[0]];
    const env = container ? envOf(container) : {};
    const prefix = env.REDIS_PREFIX ?? 'gw';
    const keys = new Set();
    for (const t of so.spec.triggers.filter((tr) => tr.type === 'redis')) {
      const m = t.metadata;
      for (const k of [
        'addressFromEnv',
        'hostFromEnv',
        'portFromEnv',
        'passwordFromEnv',
        'usernameFromEnv',
      ]) {
        if (m[k] && ctx.complete && !(m[k] in env))
          errors.push(`${id(so)}: ${k} ${m[k]} is not in ${id(target)}'s environment`);
      }
      if (!queue) {
        errors.push(
          `${id(so)}: ${id(target)} runs no worker this check knows (services/*-worker/dist/main.js)`,
        );
        continue;
      }
      const expected = [`${prefix}:${queue}:wait`, `${prefix}:${queue}:prioritized`];
      if (!expected.includes(m.listName)) {
        errors.push(
          `${id(so)}: listName ${m.listName} is not a BullMQ key of ${id(target)}'s queue (${expected.join(' or ')})`,
        );
      }
      keys.add(m.listName);
      if (!/^[1-9][0-9]*$/.test(m.listLength ?? ''))
        errors.push(`${id(so)}: listLength must be a positive whole number`);
    }
    if (queue && !keys.has(`${prefix}:${queue}:prioritized`)) {
      errors.push(
        `${id(so)}: no trigger reads ${prefix}:${queue}:prioritized, where BullMQ keeps every job that has a priority`,
      );
    }
  }

  return { errors, warnings };
}
