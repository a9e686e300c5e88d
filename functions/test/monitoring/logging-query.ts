/**
 * Just enough of the Cloud Logging query language to evaluate the log-based metric filters in
 * monitoring/ against log entries, and strict about the rest: anything outside this subset is a
 * parse error (so a filter this cannot judge fails the test instead of passing it).
 *
 *   expression := term { "AND" term } | term { "OR" term }   (mixing AND and OR needs parentheses:
 *                                                              the language gives OR precedence)
 *   term       := "NOT" term | "(" expression ")" | path op value
 *   op         := "=" | "!=" | ">" | ">=" | "<" | "<=" | ":"
 *   value      := "quoted string" | number | true | false | NULL_VALUE | * (after ":")
 *
 * Semantics as documented for the language: string comparison is case-insensitive, a comparison
 * on a field the entry does not have is false (so its NOT is true), ordering operators compare
 * numbers numerically, `NULL_VALUE` matches a JSON null, `:` is "has" (substring), `:*` presence.
 * Also EXTRACT(path), the label and value extractor of log-based metrics.
 */

export interface CloudLogEntry {
  severity: string;
  logName: string;
  resource: { type: string; labels: Record<string, string> };
  jsonPayload: Record<string, unknown>;
  [key: string]: unknown;
}

type Op = "=" | "!=" | ">" | ">=" | "<" | "<=" | ":";
type Literal =
  | { kind: "string"; value: string }
  | { kind: "number"; value: number }
  | { kind: "bool"; value: boolean }
  | { kind: "null" }
  | { kind: "any" };

export type Node =
  | { kind: "and" | "or"; terms: Node[] }
  | { kind: "not"; term: Node }
  | { kind: "cmp"; path: string[]; op: Op; value: Literal };

type Token =
  | { t: "word"; v: string }
  | { t: "string"; v: string }
  | { t: "op"; v: Op }
  | { t: "("; v: "(" }
  | { t: ")"; v: ")" };

export class QueryError extends Error {}

function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < query.length) {
    const c = query[i] ?? "";
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === "(" || c === ")") {
      tokens.push(c === "(" ? { t: "(", v: "(" } : { t: ")", v: ")" });
      i += 1;
    } else if (c === '"') {
      let value = "";
      i += 1;
      while (i < query.length && query[i] !== '"') {
        if (query[i] === "\\") i += 1;
        value += query[i] ?? "";
        i += 1;
      }
      if (query[i] !== '"') throw new QueryError(`unterminated string in ${query}`);
      i += 1;
      tokens.push({ t: "string", v: value });
    } else {
      const op = /^(!=|>=|<=|=~|!~|=|>|<|:)/.exec(query.slice(i))?.[1];
      if (op !== undefined) {
        if (op === "=~" || op === "!~") throw new QueryError(`regular expressions not supported`);
        tokens.push({ t: "op", v: op as Op });
        i += op.length;
        continue;
      }
      const word = /^[A-Za-z0-9_.*+-]+/.exec(query.slice(i))?.[0];
      if (word === undefined) throw new QueryError(`unexpected ${c} at ${i} in ${query}`);
      tokens.push({ t: "word", v: word });
      i += word.length;
    }
  }
  return tokens;
}

export function parseQuery(query: string): Node {
  const tokens = tokenize(query);
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => {
    const token = tokens[pos];
    if (token === undefined) throw new QueryError(`unexpected end of ${query}`);
    pos += 1;
    return token;
  };

  function literal(op: Op): Literal {
    const token = next();
    if (token.t === "string") return { kind: "string", value: token.v };
    if (token.t !== "word") throw new QueryError(`expected a value after ${op} in ${query}`);
    if (token.v === "*" && op === ":") return { kind: "any" };
    if (token.v === "NULL_VALUE") return { kind: "null" };
    if (token.v === "true" || token.v === "false")
      return { kind: "bool", value: token.v === "true" };
    if (/^-?\d+(\.\d+)?$/.test(token.v)) return { kind: "number", value: Number(token.v) };
    return { kind: "string", value: token.v };
  }

  function term(): Node {
    const token = next();
    if (token.t === "word" && token.v === "NOT") return { kind: "not", term: term() };
    if (token.t === "(") {
      const inner = expression();
      if (next().t !== ")") throw new QueryError(`expected ) in ${query}`);
      return inner;
    }
    if (
      token.t !== "word" ||
      !/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(token.v)
    ) {
      throw new QueryError(`expected a field path in ${query}, got ${token.v}`);
    }
    const op = next();
    if (op.t !== "op") throw new QueryError(`expected an operator after ${token.v} in ${query}`);
    return { kind: "cmp", path: token.v.split("."), op: op.v, value: literal(op.v) };
  }

  function expression(): Node {
    const terms = [term()];
    let joiner: "AND" | "OR" | null = null;
    for (
      let token = peek();
      token?.t === "word" && (token.v === "AND" || token.v === "OR");
      token = peek()
    ) {
      if (joiner !== null && joiner !== token.v) {
        throw new QueryError(`AND and OR mixed without parentheses in ${query}`);
      }
      joiner = token.v;
      pos += 1;
      terms.push(term());
    }
    if (terms.length === 1) return terms[0] as Node;
    return { kind: joiner === "OR" ? "or" : "and", terms };
  }

  const root = expression();
  if (pos !== tokens.length) throw new QueryError(`unexpected ${tokens[pos]?.v} in ${query}`);
  return root;
}

const MISSING = Symbol("missing");

export function resolvePath(entry: object, path: readonly string[]): unknown {
  let current: unknown = entry;
  for (const key of path) {
    if (current === null || typeof current !== "object" || !(key in current)) return MISSING;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

export function hasPath(entry: object, path: readonly string[]): boolean {
  return resolvePath(entry, path) !== MISSING;
}

/** A scalar field as text; null for null, objects and arrays. */
function scalar(field: unknown): string | null {
  if (typeof field === "string") return field;
  if (typeof field === "number" || typeof field === "boolean" || typeof field === "bigint") {
    return String(field);
  }
  return null;
}

function compare(field: unknown, op: Op, value: Literal): boolean {
  if (field === MISSING) return op === "!=" ? true : false;
  if (op === "!=") return !compare(field, "=", value);
  if (op === ":") {
    if (value.kind === "any") return true;
    if (typeof field !== "string" || value.kind !== "string") return compare(field, "=", value);
    return field.toLowerCase().includes(value.value.toLowerCase());
  }
  if (op === "=") {
    switch (value.kind) {
      case "null":
        return field === null;
      case "number":
        return typeof field === "number"
          ? field === value.value
          : scalar(field) === String(value.value);
      case "bool":
        return scalar(field) === String(value.value);
      case "string":
        return scalar(field)?.toLowerCase() === value.value.toLowerCase();
      default:
        return false;
    }
  }
  if (typeof field !== "number" || value.kind !== "number") {
    throw new QueryError(`ordering ${op} is only supported between numbers here`);
  }
  switch (op) {
    case ">":
      return field > value.value;
    case ">=":
      return field >= value.value;
    case "<":
      return field < value.value;
    case "<=":
      return field <= value.value;
  }
}

export function evaluate(node: Node, entry: object): boolean {
  switch (node.kind) {
    case "and":
      return node.terms.every((t) => evaluate(t, entry));
    case "or":
      return node.terms.some((t) => evaluate(t, entry));
    case "not":
      return !evaluate(node.term, entry);
    case "cmp":
      return compare(resolvePath(entry, node.path), node.op, node.value);
  }
}

export function matches(query: string, entry: object): boolean {
  return evaluate(parseQuery(query), entry);
}

/** Every field path a query compares. */
export function fieldPaths(node: Node): string[] {
  switch (node.kind) {
    case "and":
    case "or":
      return node.terms.flatMap(fieldPaths);
    case "not":
      return fieldPaths(node.term);
    case "cmp":
      return [node.path.join(".")];
  }
}

/** `EXTRACT(jsonPayload.x)`: the field's value as a label, or null when absent or not a scalar. */
export function extract(extractor: string, entry: object): string | null {
  const path = /^EXTRACT\(([A-Za-z_][A-Za-z0-9_.]*)\)$/.exec(extractor.trim())?.[1];
  if (path === undefined) throw new QueryError(`unsupported extractor ${extractor}`);
  return scalar(resolvePath(entry, path.split(".")));
}

export function extractorPath(extractor: string): string {
  const path = /^EXTRACT\(([A-Za-z_][A-Za-z0-9_.]*)\)$/.exec(extractor.trim())?.[1];
  if (path === undefined) throw new QueryError(`unsupported extractor ${extractor}`);
  return path;
}

/**
 * A line a Cloud Run (2nd gen function) container writes, as Cloud Logging stores it: a JSON
 * object becomes `jsonPayload`, minus the keys the logging agent lifts into the LogEntry
 * (`severity`, `logging.googleapis.com/*`, `httpRequest`, `time`, `timestamp…`); `message` stays.
 * Returns null for a line that is not a JSON object (it would be a textPayload).
 */
export function cloudRunLogEntry(
  line: string,
  where: { project: string; service: string; stream: "stdout" | "stderr" },
): CloudLogEntry | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return null;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return null;
  const payload: Record<string, unknown> = {};
  let severity = "DEFAULT";
  for (const [key, value] of Object.entries(parsed)) {
    if (key === "severity") severity = String(value).toUpperCase();
    else if (
      key.startsWith("logging.googleapis.com/") ||
      key === "httpRequest" ||
      key === "time" ||
      key === "timestamp" ||
      key === "timestampSeconds" ||
      key === "timestampNanos"
    ) {
      continue;
    } else payload[key] = value;
  }
  return {
    severity,
    logName: `projects/${where.project}/logs/run.googleapis.com%2F${where.stream}`,
    resource: {
      type: "cloud_run_revision",
      labels: {
        project_id: where.project,
        service_name: where.service,
        revision_name: `${where.service}-00001-abc`,
        location: "us-central1",
        configuration_name: where.service,
      },
    },
    jsonPayload: payload,
  };
}
