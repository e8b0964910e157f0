// Validates the Prometheus Operator resources of deploy/kubernetes/
// (ServiceMonitor, PodMonitor, PrometheusRule) against the CRDs' OpenAPI
// schemas, as shipped by the npm package @kubernetes-models/prometheus-operator
// (kubernetes-validate knows only the core kinds).
//
// Usage: node crds.mjs NPM_PREFIX < docs.json
// where docs.json is a JSON array of {file, doc} (the check script converts
// the YAML with Python). Exits 1 if any resource is invalid.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const prefix = process.argv[2];
const base = `${prefix}/node_modules/@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1`;
// Imported by file, past the package's exports map, so the package needs no
// node_modules next to this script.
const kinds = {};
for (const kind of ["ServiceMonitor", "PodMonitor", "PrometheusRule"]) {
  kinds[kind] = (await import(pathToFileURL(`${base}/${kind}.js`).href))[kind];
}

const docs = JSON.parse(readFileSync(0, "utf8"));
let failed = 0;
let checked = 0;
for (const { file, doc } of docs) {
  if (doc?.apiVersion !== "monitoring.coreos.com/v1") continue;
  const Model = kinds[doc.kind];
  const name = `${file}: ${doc.kind}/${doc.metadata?.name}`;
  if (!Model) {
    console.log(`crds: FAIL ${name}: no schema for this kind`);
    failed++;
    continue;
  }
  try {
    new Model(doc).validate();
    console.log(`crds: ${name} is valid`);
    checked++;
  } catch (error) {
    console.log(`crds: FAIL ${name}: ${error.message}`);
    failed++;
  }
}
if (checked + failed === 0) {
  console.log("crds: FAIL no monitoring.coreos.com resource found");
  process.exit(1);
}
process.exit(failed ? 1 : 0);
