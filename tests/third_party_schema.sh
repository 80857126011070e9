#!/usr/bin/env bash
# Third-party JSON Schema validators agree with rb about the checked-in schema:
#   - every runbook rb accepts (tests/corpus/valid, runbooks/) passes check-jsonschema (Python,
#     YAML 1.2 via ruamel) and ajv (JavaScript, strict mode, YAML 1.2 core via js-yaml);
#   - runbooks with schema-level problems (unknown key, wrong type, bad duration, ...) fail both,
#     with a schema error (not a parse error).
# The tools are installed on first use into $RB_TOOLS_DIR (default: target/tools), quietly.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools=${RB_TOOLS_DIR:-${CARGO_TARGET_DIR:-$root/target}/tools}
schema=$root/schemas/runbook.schema.json
mkdir -p "$tools"

# Pinned; a stamp records what was installed, so changing a pin here reinstalls.
venv=$tools/venv
if [ "$(cat "$venv/.pins" 2>/dev/null)" != "check-jsonschema==0.39.0" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'check-jsonschema==0.39.0' >&2
  echo "check-jsonschema==0.39.0" >"$venv/.pins"
fi
if [ "$(cat "$tools/.ajv-pins" 2>/dev/null)" != "ajv-cli@5.0.0" ]; then
  npm install --prefix "$tools" --silent --no-audit --no-fund --no-save ajv-cli@5.0.0 >&2
  echo "ajv-cli@5.0.0" >"$tools/.ajv-pins"
fi
cj=$venv/bin/check-jsonschema
ajv=$tools/node_modules/.bin/ajv

fail=0
ok() { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*"; fail=1; }

# ajv: draft 2020-12 with ajv's default strictness, the one editors and CI users get: unknown
# keywords and formats in the schema are errors. (`--strict=true` would also turn on
# `strictRequired`, which refuses the standard `if`/`then: {required: [run]}` idiom the schema
# uses for per-kind fields, and `strictTypes`, which refuses the union type of a param default.)
ajv_flags=(--spec=draft2020)
ajv_check() { "$ajv" validate "${ajv_flags[@]}" -s "$schema" -d "$1" 2>&1; }
cj_check() { "$cj" --schemafile "$schema" "$1" 2>&1; }

# The schema itself must compile under ajv's strict mode.
if out=$("$ajv" compile "${ajv_flags[@]}" -s "$schema" 2>&1); then
  ok "ajv compiles the schema"
else
  bad "ajv rejects the schema: $out"
fi

shopt -s nullglob
valid=("$root"/tests/corpus/valid/*.yaml "$root"/runbooks/*.yaml)
[ ${#valid[@]} -ge 6 ] || bad "expected at least 6 valid runbooks, found ${#valid[@]}"
for f in "${valid[@]}"; do
  rel=${f#"$root"/}
  if out=$(cj_check "$f"); then ok "check-jsonschema accepts $rel"; else bad "check-jsonschema rejects $rel: $out"; fi
  if out=$(ajv_check "$f"); then ok "ajv accepts $rel"; else bad "ajv rejects $rel: $out"; fi
done

# Invalid by the schema alone; both validators must reject them as schema violations.
schema_invalid=(
  unknown-key wrong-type bad-duration yes-as-boolean version-2 missing-steps steps-empty
  unknown-step-kind bad-name bad-step-id bad-param-name retry-attempts-out-of-range
  message-without-text watch-without-until root-is-list crlf-line-endings unicode-columns
)
for name in "${schema_invalid[@]}"; do
  f=$root/tests/corpus/invalid/$name.yaml
  rel=${f#"$root"/}
  [ -f "$f" ] || { bad "missing corpus file $rel"; continue; }
  if out=$(cj_check "$f"); then
    bad "check-jsonschema accepts $rel"
  elif grep -q "Schema validation errors were encountered" <<<"$out"; then
    ok "check-jsonschema rejects $rel"
  else
    bad "check-jsonschema fails on $rel for another reason: $out"
  fi
  if out=$(ajv_check "$f"); then
    bad "ajv accepts $rel"
  elif grep -qxF "$f invalid" <<<"$out"; then
    ok "ajv rejects $rel"
  else
    bad "ajv fails on $rel for another reason: $out"
  fi
done

# Semantic problems are rb's own checks: the schema accepts them, so rb's extra checks are
# what catches them (this also shows the rejections above are not blanket failures).
for name in duplicate-id undefined-variable capture-shadows-param rollback-on-read-only; do
  f=$root/tests/corpus/invalid/$name.yaml
  rel=${f#"$root"/}
  if out=$(cj_check "$f"); then ok "check-jsonschema accepts $rel (a semantic problem)"; else bad "check-jsonschema rejects $rel: $out"; fi
  if out=$(ajv_check "$f"); then ok "ajv accepts $rel (a semantic problem)"; else bad "ajv rejects $rel: $out"; fi
done

exit $fail
