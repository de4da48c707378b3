/**
 * Find [[ops]] / [[kernels]] entries in gpuemu.toml text, and build the "adjust tolerance" edit.
 *
 * Line-based on purpose: diagnostics and edits need line numbers, which a TOML parser throws away.
 * Lines and characters are 0-based, as in VS Code's Position.
 */

export type EntryKind = "ops" | "kernels";

export interface Entry {
  kind: EntryKind;
  name: string;
  /** The `[[ops]]` header line. */
  headerLine: number;
  /** The `name = "…"` line (the header line when the entry has no name). */
  nameLine: number;
  /** One past the entry's last line: the next header that is not one of its sub-tables, or the end. */
  endLine: number;
}

export interface Position { line: number; character: number }
export interface TextEdit { range: { start: Position; end: Position }; newText: string }

const HEADER = /^\s*(\[\[?)\s*([A-Za-z_"'][\w."' -]*?)\s*\]\]?\s*(#.*)?$/;
const NAME = /^\s*name\s*=\s*(?:"([^"]*)"|'([^']*)')/;

export interface Header { line: number; array: boolean; path: string }

export function headers(lines: string[]): Header[] {
  return lines.flatMap((text, line) => {
    const m = HEADER.exec(text);
    return m ? [{ line, array: m[1] === "[[", path: m[2].replace(/\s+/g, "") }] : [];
  });
}

/** Every [[ops]] and [[kernels]] entry, in file order. */
export function findEntries(text: string): Entry[] {
  const lines = text.split(/\r?\n/);
  const hs = headers(lines);
  const entries: Entry[] = [];
  hs.forEach((h, i) => {
    if (!h.array || (h.path !== "ops" && h.path !== "kernels")) return;
    const endLine = hs.slice(i + 1).find((o) => !o.path.startsWith(`${h.path}.`))?.line ?? lines.length;
    const bodyEnd = hs[i + 1]?.line ?? lines.length;
    let name = "";
    let nameLine = h.line;
    for (let l = h.line + 1; l < bodyEnd; l++) {
      const m = NAME.exec(lines[l]);
      if (m) { name = m[1] ?? m[2]; nameLine = l; break; }
    }
    entries.push({ kind: h.path, name, headerLine: h.line, nameLine, endLine });
  });
  return entries;
}

/** The entry of that kind and name, or undefined. */
export function findEntry(text: string, name: string, kind: EntryKind = "ops"): Entry | undefined {
  return findEntries(text).find((e) => e.kind === kind && e.name === name);
}

export class ToleranceEditError extends Error {}

function fmt(x: number): string {
  return Number.isInteger(x) ? x.toFixed(1) : String(x);
}

/**
 * The edit that sets `[ops.tolerances.<dtype>] atol = …, rtol = …` for one op: the values of an
 * existing table are replaced, otherwise the table is appended to the op's entry. rtol is written
 * too, because gpuemu reads a missing rtol as 0, which would tighten the check instead.
 */
export function toleranceEdit(text: string, op: string, dtype: string, atol: number, rtol: number): TextEdit {
  const entry = findEntry(text, op);
  if (!entry) {
    throw new ToleranceEditError(`op "${op}" has no [[ops]] entry with name = "${op}" in gpuemu.toml; add the op first`);
  }
  const lines = text.split(/\r?\n/);
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const key = dtype.toLowerCase();
  const table = `ops.tolerances.${key}`;
  const body = `atol = ${fmt(atol)}${eol}rtol = ${fmt(rtol)}`;
  const inEntry = headers(lines).filter((h) => h.line > entry.headerLine && h.line < entry.endLine);
  const own = inEntry.find((h) => !h.array && h.path === table);
  if (own) {
    const stop = inEntry.find((h) => h.line > own.line)?.line ?? entry.endLine;
    let last = stop - 1;
    while (last > own.line && lines[last].trim() === "") last--;
    return { range: { start: { line: own.line + 1, character: 0 }, end: { line: last, character: lines[last].length } },
      newText: `${body}${keptLines(lines, own.line, last, eol)}` };
  }
  const parent = inEntry.find((h) => !h.array && h.path === "ops.tolerances");
  const parentEnd = parent ? inEntry.find((h) => h.line > parent.line)?.line ?? entry.endLine : 0;
  const ownKey = new RegExp(`^\\s*${key}\\s*=`);
  for (let l = entry.headerLine + 1; l < entry.endLine; l++) {
    const inParent = parent !== undefined && l > parent.line && l < parentEnd && ownKey.test(lines[l]);
    if (inParent || /^\s*tolerances\s*(=|\.)/.test(lines[l])) {
      throw new ToleranceEditError(`gpuemu.toml line ${l + 1} sets the tolerances of "${op}" inline; ` +
        `edit it there to ${key} = { atol = ${fmt(atol)}, rtol = ${fmt(rtol)} }`);
    }
  }
  let last = entry.endLine - 1;
  while (last > entry.headerLine && lines[last].trim() === "") last--;
  const at = { line: last, character: lines[last].length };
  return { range: { start: at, end: at }, newText: `${eol}${eol}[${table}]${eol}${body}` };
}

/** Lines of the replaced table other than atol/rtol (comments, other keys) are kept after them. */
function keptLines(lines: string[], header: number, last: number, eol: string): string {
  const kept = lines.slice(header + 1, last + 1).filter((l) => l.trim() !== "" && !/^\s*(atol|rtol)\s*=/.test(l));
  return kept.map((l) => `${eol}${l}`).join("");
}

/** Apply one edit to text (what VS Code's WorkspaceEdit does; used by tests and previews). */
export function applyEdit(text: string, edit: TextEdit): string {
  const lines = text.split(/\r?\n/);
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const offset = (p: Position) => lines.slice(0, p.line).reduce((n, l) => n + l.length + eol.length, 0) + p.character;
  return text.slice(0, offset(edit.range.start)) + edit.newText + text.slice(offset(edit.range.end));
}
