/**
 * Check gpuemu.toml as the editor types it: the rules of src/gpuemu/config.py that can be checked
 * without Python (syntax, sections, op keys, names, scripts, dtypes), with its messages, each at
 * the line that causes it. Pure: the file system is reached only through `exists`.
 * The CLI remains the authority; this catches the common mistakes before a run.
 */
import { statSync } from "node:fs";
import * as path from "node:path";
import { DTYPES, isTable, listOps, OpInfo, parseToml, shortDtype, Table } from "./opConfig";
import { headers } from "./toml";

export interface ConfigProblem { line: number; message: string; severity: "error" | "warning" }

/** config.py: _SECTIONS plus ops and kernels. */
const SECTIONS = ["project", "validation", "policies", "ci", "daemon", "ops", "kernels"];
/** config.py: the keys of _OP, and its alias. */
const OP_KEYS = ["name", "reference", "op_script", "input_names", "execution_mode", "tolerances", "invariants",
  "timeout_s", "kwargs", "op_type", "reduce_dims", "compare", "max_ulp", "vacuous_guard", "deterministic",
  "dtypes", "check_nan", "check_inf", "fuzz", "schema"];
const OP_ALIASES = ["reduced_dims"];
const SCRIPT_KEYS = ["reference", "op_script"];
const SHORT_NAMES = Object.values(DTYPES);

const oneOf = (options: string[]) => "one of " + options.map((o) => `'${o}'`).join(", ");

/** Longest common subsequence ratio 2·M/T, a stand-in for difflib's ratio (cutoff 0.6, as cs.suggest). */
function similarity(a: string, b: string): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (const ca of a) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = ca === b[j - 1] ? diag + 1 : Math.max(row[j], row[j - 1]);
      diag = up;
    }
  }
  return a.length + b.length ? (2 * row[b.length]) / (a.length + b.length) : 1;
}

/** " (did you mean 'x'?)" for the closest option, or "". */
export function suggest(word: string, options: string[]): string {
  const [best] = options.map((o) => [similarity(word, o), o] as const).filter(([r]) => r >= 0.6).sort((x, y) => y[0] - x[0]);
  return best ? ` (did you mean '${best[1]}'?)` : "";
}

/** Where a key lives: the first matching table header, then the key's line inside that table. */
class Locator {
  private readonly lines: string[];
  private readonly hs;
  constructor(text: string) {
    this.lines = text.split(/\r?\n/);
    this.hs = headers(this.lines);
  }

  /** Line of `key =` in table `table` (a header path) between start and end, else of the table's header, else undefined. */
  find(table: string, key: string | undefined, start = 0, end = this.lines.length): number | undefined {
    const h = this.hs.find((x) => x.path === table && x.line >= start && x.line < end);
    const from = h ? h.line + 1 : start;
    const to = this.hs.find((x) => x.line >= from)?.line ?? this.lines.length;
    if (key !== undefined) {
      const re = new RegExp(`^\\s*["']?${key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}["']?\\s*[=.]`);
      for (let l = from; l < Math.min(to, end); l++) if (re.test(this.lines[l])) return l;
    }
    return h?.line;
  }

  /** The first of the candidate [table, key] places that exists, else `fallback`. */
  first(candidates: [string, string | undefined][], fallback: number, start?: number, end?: number): number {
    for (const [t, k] of candidates) {
      const l = this.find(t, k, start, end);
      if (l !== undefined) return l;
    }
    return fallback;
  }
}

function unknownDtypes(values: unknown, where: string, line: number): ConfigProblem[] {
  if (!Array.isArray(values)) return [];
  return values.flatMap((v, i) => shortDtype(v) !== undefined ? [] : [{ line, severity: "error" as const,
    message: `${where}[${i}]: unknown dtype ${JSON.stringify(v)}${typeof v === "string" ? suggest(v.toLowerCase(), SHORT_NAMES) : ""}; ` +
      `expected ${oneOf(SHORT_NAMES)} (or the enum spelling, e.g. 'Float32')` }]);
}

function unknownToleranceKeys(tolerances: unknown, where: string, lineOf: (k: string) => number): ConfigProblem[] {
  if (!isTable(tolerances)) return [];
  return Object.keys(tolerances).filter((k) => shortDtype(k) === undefined).map((k) => ({ line: lineOf(k), severity: "error" as const,
    message: `${where}.${k}: unknown dtype '${k}'${suggest(k.toLowerCase(), SHORT_NAMES)}; expected ${oneOf(SHORT_NAMES)} (or the enum spelling, e.g. 'Float32')` }));
}

function checkOp(op: OpInfo, index: number, loc: Locator, tomlDir: string, exists: (p: string) => boolean): ConfigProblem[] {
  const { entry, table } = op;
  const where = `ops[${index}]${typeof table.name === "string" ? ` (${table.name})` : ""}`;
  const start = entry.headerLine;
  const end = entry.endLine;
  const at = (candidates: [string, string | undefined][]) => loc.first(candidates, entry.headerLine, start, end);
  const err = (line: number, message: string): ConfigProblem => ({ line, message, severity: "error" });
  const out: ConfigProblem[] = [];
  for (const key of ["name", "reference"].filter((k) => !(k in table))) out.push(err(entry.headerLine, `${where}: missing required key '${key}'`));
  if ("name" in table && (typeof table.name !== "string" || table.name === "" || table.name !== table.name.trim())) {
    out.push(err(entry.nameLine, `${where}.name: expected a non-empty name without leading or trailing spaces, got ${JSON.stringify(table.name)}`));
  }
  for (const key of Object.keys(table).filter((k) => !OP_KEYS.includes(k) && !OP_ALIASES.includes(k))) {
    out.push(err(at([["ops", key]]), `${where}.${key}: unknown key${suggest(key, [...OP_KEYS, ...OP_ALIASES])}; expected ${oneOf(OP_KEYS)}`));
  }
  for (const key of SCRIPT_KEYS) {
    const value = table[key];
    if (key in table && (typeof value !== "string" || value === "")) {
      out.push(err(at([["ops", key]]), `${where}.${key}: expected a non-empty path string, got ${JSON.stringify(value)}`));
    } else if (typeof value === "string") {
      const resolved = path.resolve(tomlDir, value);
      if (!exists(resolved)) {
        out.push(err(at([["ops", key]]), `${where}.${key}: file '${value}' does not exist (looked for ${resolved}); fix the path, which is relative to ${tomlDir}`));
      }
    }
  }
  const fuzz = isTable(table.fuzz) ? table.fuzz : {};
  out.push(...unknownDtypes(table.dtypes, `${where}.dtypes`, at([["ops", "dtypes"]])),
    ...unknownDtypes(fuzz.dtypes, `${where}.fuzz.dtypes`, at([["ops.fuzz", "dtypes"], ["ops", "fuzz"]])),
    ...unknownToleranceKeys(table.tolerances, `${where}.tolerances`,
      (k) => at([[`ops.tolerances.${k}`, undefined], ["ops.tolerances", k], ["ops", "tolerances"]])));
  return out;
}

function duplicates(ops: OpInfo[]): ConfigProblem[] {
  const seen = new Set<string>();
  return ops.flatMap((op, i) => {
    const name = op.table.name;
    if (typeof name !== "string") return [];
    if (!seen.has(name)) { seen.add(name); return []; }
    return [{ line: op.entry.nameLine, severity: "error" as const,
      message: `ops[${i}] (${name}).name: duplicate op name '${name}'; op names must be unique` }];
  });
}

const isFile = (p: string): boolean => {
  try { return statSync(p).isFile(); } catch { return false; }
};

/** Every problem found in gpuemu.toml text whose folder is `tomlDir`; [] for a good file. */
export function validateConfig(text: string, tomlDir: string, exists: (p: string) => boolean = isFile): ConfigProblem[] {
  const parsed = parseToml(text);
  if (parsed.error) return [{ line: parsed.error.line, severity: "error", message: `invalid TOML: ${parsed.error.message} (at line ${parsed.error.line + 1}, column ${parsed.error.column + 1})` }];
  const data = parsed.data as Table;
  const loc = new Locator(text);
  const out: ConfigProblem[] = Object.keys(data).filter((k) => !SECTIONS.includes(k)).map((k) => ({
    line: loc.first([[k, undefined], ["", k]], 0), severity: "error" as const,
    message: `${k}: unknown section${suggest(k, SECTIONS)}; expected ${oneOf(SECTIONS)}`,
  }));
  const validation = isTable(data.validation) ? data.validation : {};
  const ci = isTable(data.ci) ? data.ci : {};
  out.push(...unknownDtypes(validation.dtypes, "validation.dtypes", loc.first([["validation", "dtypes"]], 0)),
    ...unknownDtypes(ci.quick_dtypes, "ci.quick_dtypes", loc.first([["ci", "quick_dtypes"]], 0)),
    ...unknownToleranceKeys(validation.tolerances, "validation.tolerances",
      (k) => loc.first([[`validation.tolerances.${k}`, undefined], ["validation.tolerances", k], ["validation", "tolerances"]], 0)));
  if ("ops" in data && !Array.isArray(data.ops)) {
    out.push({ line: loc.first([["ops", undefined], ["", "ops"]], 0), severity: "warning",
      message: "ops: written as [ops.NAME] tables; only [[ops]] entries are checked here (the CLI checks the rest)" });
  }
  const ops = listOps(text, tomlDir);
  out.push(...ops.flatMap((op, i) => checkOp(op, i, loc, tomlDir, exists)), ...duplicates(ops));
  return out.sort((a, b) => a.line - b.line);
}
