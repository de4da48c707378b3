/**
 * gpuemu.toml read twice: values from a TOML parser (smol-toml), lines from toml.ts's
 * line scan. The i-th parsed [[ops]] table is the i-th `[[ops]]` header, so each op's values
 * come with the lines that diagnostics and test items point at. Pure (no vscode import).
 */
import * as path from "node:path";
import { parse, TomlError } from "smol-toml";
import { Entry, findEntries } from "./toml";

/** gpuemu's DType enum spelling -> the config spelling (dtypes.py: DType and short_name). */
export const DTYPES: Readonly<Record<string, string>> = {
  Float16: "float16", BFloat16: "bfloat16", Float32: "float32", Float64: "float64",
  Int8: "int8", Int16: "int16", Int32: "int32", Int64: "int64",
  UInt8: "uint8", UInt16: "uint16", UInt32: "uint32", UInt64: "uint64", Bool: "bool",
};

const BY_LOWER = new Map(Object.entries(DTYPES).flatMap(([e, s]) => [[e.toLowerCase(), s], [s, s]]));

/** "Float32", "float32" or any case of either -> "float32"; undefined for an unknown name. */
export function shortDtype(name: unknown): string | undefined {
  return typeof name === "string" ? BY_LOWER.get(name.toLowerCase()) : undefined;
}

export type Table = Record<string, unknown>;

export interface ParsedToml { data?: Table; error?: { line: number; column: number; message: string } }

/** Parse TOML; a syntax error keeps its 0-based line and column and loses smol-toml's code excerpt. */
export function parseToml(text: string): ParsedToml {
  try {
    return { data: parse(text) as Table };
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    const message = e.message.replace(/^Invalid TOML document: /, "").split("\n")[0];
    return { error: { line: e.line - 1, column: e.column - 1, message } };
  }
}

export const isTable = (v: unknown): v is Table => typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

export interface OpInfo {
  entry: Entry;
  /** The parsed [[ops]] table (empty when the file does not parse). */
  table: Table;
  /** Config spellings of the dtypes the op is fuzzed with ([ops.fuzz] dtypes, else the op's, else [validation]'s). */
  dtypes: string[];
  /** Absolute paths of the op's scripts, relative ones resolved from the toml's folder. */
  reference?: string;
  opScript?: string;
}

function dtypeList(v: unknown): string[] | undefined {
  if (!Array.isArray(v) || v.length === 0) return undefined;
  const known = v.map(shortDtype).filter((d): d is string => d !== undefined);
  return known.length ? [...new Set(known)] : undefined;
}

const script = (dir: string, v: unknown): string | undefined =>
  typeof v === "string" && v !== "" ? path.resolve(dir, v) : undefined;

/**
 * Every [[ops]] entry with its lines, dtypes and scripts. When the text does not parse, the line
 * scan still lists the ops (with the default dtype), so the Test explorer keeps its items.
 */
export function listOps(text: string, tomlDir: string): OpInfo[] {
  const data = parseToml(text).data ?? {};
  const tables = Array.isArray(data.ops) ? data.ops : [];
  const validation = isTable(data.validation) ? data.validation : {};
  const fallback = dtypeList(validation.dtypes) ?? ["float32"];
  return findEntries(text).filter((e) => e.kind === "ops").map((entry, i) => {
    const table: Table = isTable(tables[i]) ? tables[i] : {};
    const fuzz = isTable(table.fuzz) ? table.fuzz : {};
    return { entry, table, dtypes: dtypeList(fuzz.dtypes) ?? dtypeList(table.dtypes) ?? fallback,
      reference: script(tomlDir, table.reference), opScript: script(tomlDir, table.op_script) };
  });
}

/** The names of the ops whose op_script or reference is this file (several ops may share one). */
export function opsForPath(text: string, tomlDir: string, savedPath: string): string[] {
  const target = path.resolve(savedPath);
  return [...new Set(listOps(text, tomlDir)
    .filter((o) => o.entry.name && (o.opScript === target || o.reference === target))
    .map((o) => o.entry.name))];
}
