/*
 * Loads the routing rule files, refuses an invalid set with file, line and reason, and keeps the rules in force.
 *
 * Merging: every *.yaml / *.yml file directly in the folder is read, in file-name order (plain code-unit order,
 * so `10-rules.yaml` comes before `20-rules.yaml`). Queues and calendars from all files form one namespace (a
 * name defined twice is refused); rules are concatenated in file order, which is their match order; `capacity`
 * and `options` may each appear in one file only. The set is checked as a whole: a rule in one file may name a
 * queue from another.
 *
 * `parseRuleFiles` is pure (file names and contents in, rule set or problems out); `RulesStore` is the only
 * code here that touches the filesystem.
 */
import { createHash } from 'node:crypto';
import { watch as watchFolder, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Alias,
  type Document,
  type Node,
} from 'yaml';
import { channels, type Channel } from '../../interactions/inbound-contact.js';
import {
  ruleDefaults,
  RuleFileSpec,
  weekdays,
  type Calendar,
  type CalendarSpec,
  type CapacitySpec,
  type ChannelCapacity,
  type Conditions,
  type ConditionsSpec,
  type Disposition,
  type DispositionSpec,
  type Interval,
  type MatchRule,
  type OptionsSpec,
  type Queue,
  type QueueSpec,
  type RoutingOptions,
  type RuleSet,
  type RuleSpec,
  type SkillRequirement,
  type SlaMetric,
  type SlaPolicy,
  slaMetrics,
  type TimeWindow,
  type Weekday,
} from './rules.schema.js';
import { keywordWords } from './rule-matcher.js';
import { parseDuration } from './business-time.js';
import {
  ivrDefaults,
  type IvrFlow,
  type IvrLookup,
  type IvrRules,
  type IvrSpec,
  type IvrStep,
  type MenuOption,
  type Prompt,
  type PromptSpec,
  type StepSpec,
} from './ivr.schema.js';

/** One reason a rule set was refused. `line` and `column` are 1-based; 0 when the problem is the whole set. */
export interface RuleProblem {
  file: string;
  line: number;
  column: number;
  reason: string;
}

export interface RuleFileSource {
  /** As reported in problems: the loader passes the path it read. */
  name: string;
  text: string;
}

export type ParseOutcome =
  { status: 'valid'; rules: RuleSet } | { status: 'invalid'; problems: RuleProblem[] };

const validateFile = Compile(RuleFileSpec);

type Path = readonly (string | number)[];

interface ParsedFile {
  name: string;
  doc: Document;
  lines: LineCounter;
  spec: RuleFileSpec;
}

/** Parses and validates a complete set of rule files. Pure: no clock, no disk. */
export function parseRuleFiles(files: readonly RuleFileSource[], folder = '.'): ParseOutcome {
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const problems: RuleProblem[] = [];
  const parsed: ParsedFile[] = [];
  for (const file of sorted) {
    const result = parseOneFile(file);
    if ('problems' in result) problems.push(...result.problems);
    else parsed.push(result);
  }
  // Cross-file checks on half-valid files would only add noise ("unknown queue" for a queue whose file failed).
  if (problems.length > 0) return { status: 'invalid', problems: sortProblems(problems) };
  const checked = checkAndResolve(parsed, folder);
  if ('problems' in checked) return { status: 'invalid', problems: sortProblems(checked.problems) };
  return { status: 'valid', rules: { ...checked.rules, fingerprint: fingerprintOf(sorted) } };
}

const sortProblems = (problems: RuleProblem[]) =>
  problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);

function fingerprintOf(files: readonly RuleFileSource[]): string {
  const hash = createHash('sha256');
  for (const file of files) hash.update(`${file.name}\0${file.text}\0`);
  return hash.digest('hex');
}

// ---- One file: YAML syntax, then the schema. ----

function parseOneFile(file: RuleFileSource): ParsedFile | { problems: RuleProblem[] } {
  const lines = new LineCounter();
  const doc = parseDocument(file.text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  // Only the first syntax error: the parser's later ones are mostly echoes of it.
  const [syntaxError] = doc.errors;
  if (syntaxError) {
    const { line, col } = lines.linePos(syntaxError.pos[0]);
    const reason = `YAML syntax: ${firstLine(syntaxError.message)}`;
    return { problems: [{ file: file.name, line, column: col, reason }] };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    // An alias that names no earlier anchor, or aliases expanding past the limit (a resource-exhaustion bomb).
    const [alias] = aliasesOf(doc);
    const { line, col } = alias?.range ? lines.linePos(alias.range[0]) : { line: 1, col: 1 };
    const reason = `YAML aliases: ${firstLine(error instanceof Error ? error.message : String(error))}`;
    return { problems: [{ file: file.name, line, column: col, reason }] };
  }
  if (validateFile.Check(value)) return { name: file.name, doc, lines, spec: value };
  const locate = locator(file.name, doc, lines);
  return { problems: explain(RuleFileSpec, value, '').map((issue) => issueToProblem(issue, locate)) };
}

const firstLine = (message: string) => message.split('\n')[0] ?? message;

function aliasesOf(doc: Document): Alias[] {
  const found: Alias[] = [];
  visit(doc, { Alias: (_key, node) => void found.push(node) });
  return found;
}

// ---- Schema errors, made readable. ----

interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  /** The sub-schema the error is about. */
  schema: Record<string, unknown>;
  value: unknown;
}

/**
 * TypeBox reports every branch of a failed union. For the operator only one branch is meant: the one whose type
 * (and `action` tag) matches what they wrote. `explain` keeps that branch's errors and drops the others; when
 * no branch fits, it says what was expected.
 */
function explain(schema: TSchema, value: unknown, basePath: string): SchemaError[] {
  const out: SchemaError[] = [];
  const unions = new Map<string, string>(); // union's instance path -> its schema path
  for (const error of Value.Errors(schema, value)) {
    const anyOfAt = error.schemaPath.indexOf('/anyOf/');
    if (anyOfAt >= 0) {
      const unionPath = error.schemaPath.slice(0, anyOfAt);
      unions.set(instancePrefix(unionPath, error.instancePath), unionPath);
    } else if (error.keyword === 'anyOf') {
      unions.set(error.instancePath, error.schemaPath);
    } else if (error.keyword === 'boolean' && error.schemaPath.endsWith('/additionalProperties')) {
      // The same fact as the parent's `additionalProperties` error, which names the field.
    } else if (error.keyword === 'pattern' && error.schemaPath.endsWith('/propertyNames')) {
      // Reported once per name by the parent's `propertyNames` error.
    } else {
      out.push({
        keyword: error.keyword,
        instancePath: basePath + error.instancePath,
        params: error.params,
        schema: schemaAt(schema, error.schemaPath),
        value: valueAt(value, error.instancePath),
      });
    }
  }
  for (const [instancePath, unionPath] of unions) {
    const union = schemaAt(schema, unionPath);
    const member = valueAt(value, instancePath);
    const variants = (union.anyOf ?? []) as TSchema[];
    const chosen = chooseVariant(variants, member);
    if (chosen.variant) out.push(...explain(chosen.variant, member, basePath + instancePath));
    else if (chosen.tag !== undefined) {
      const tag = chosen.tag;
      out.push({
        keyword: 'tag',
        instancePath: `${basePath}${instancePath}/${tag}`,
        params: { allowedValues: variants.map((v) => tagOf(v)?.value) },
        schema: union,
        value: (member as Record<string, unknown>)[tag],
      });
    } else {
      out.push({
        keyword: 'type',
        instancePath: basePath + instancePath,
        params: {},
        schema: union,
        value: member,
      });
    }
  }
  return out;
}

/** The instance path a union at `schemaPath` applies to: one instance segment per step into the schema. */
function instancePrefix(schemaPath: string, instancePath: string): string {
  const schemaSegments = schemaPath.split('/').slice(1);
  const instanceSegments = instancePath.split('/').slice(1);
  let depth = 0;
  for (let i = 0; i < schemaSegments.length; i++) {
    const segment = schemaSegments[i];
    if (segment === 'properties' || segment === 'patternProperties') {
      depth++;
      i++;
    } else if (segment === 'items' || segment === 'additionalProperties') depth++;
  }
  return instanceSegments
    .slice(0, depth)
    .map((s) => `/${s}`)
    .join('');
}

function schemaAt(root: TSchema, schemaPath: string): Record<string, unknown> {
  let node: unknown = root;
  for (const segment of pointerSegments(schemaPath.replace(/^#/, ''))) {
    node = (node as Record<string, unknown> | undefined)?.[segment];
  }
  return (node ?? {}) as Record<string, unknown>;
}

function valueAt(value: unknown, instancePath: string): unknown {
  let node = value;
  for (const segment of pointerSegments(instancePath)) {
    node = (node as Record<string, unknown> | undefined)?.[segment];
  }
  return node;
}

function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function tagOf(variant: TSchema): { key: string; value: unknown } | undefined {
  const properties = (variant as { properties?: Record<string, { const?: unknown }> }).properties ?? {};
  for (const [key, property] of Object.entries(properties)) {
    if (property.const !== undefined) return { key, value: property.const };
  }
  return undefined;
}

function fitsType(schema: TSchema, value: unknown): boolean {
  const s = schema as { type?: string; enum?: unknown[]; anyOf?: TSchema[] };
  if (s.anyOf) return s.anyOf.some((v) => fitsType(v, value));
  if (s.enum) return typeof value === typeof s.enum[0];
  switch (s.type) {
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'integer':
    case 'number':
      return typeof value === 'number';
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    default:
      return true;
  }
}

function chooseVariant(variants: readonly TSchema[], value: unknown): { variant?: TSchema; tag?: string } {
  const byType = variants.filter((v) => fitsType(v, value));
  const tagged = byType.filter((v) => tagOf(v) !== undefined);
  if (tagged.length === 0) return { variant: byType[0] };
  const record = value as Record<string, unknown>;
  const match = tagged.find((v) => {
    const tag = tagOf(v);
    return tag !== undefined && record[tag.key] === tag.value;
  });
  return match ? { variant: match } : { tag: tagOf(tagged[0] as TSchema)?.key };
}

function describeSchema(schema: Record<string, unknown>): string {
  if (typeof schema.description === 'string') return schema.description;
  const variants = schema.anyOf as Record<string, unknown>[] | undefined;
  if (variants) {
    // OneOrMany: [X, X[]]
    const [one, many] = variants;
    if (
      variants.length === 2 &&
      one &&
      many?.type === 'array' &&
      JSON.stringify(many.items) === JSON.stringify(one)
    ) {
      return `${describeSchema(one)}, or a list of them`;
    }
    return variants.map(describeSchema).join(' or ');
  }
  if (Array.isArray(schema.enum)) return `one of ${schema.enum.join(', ')}`;
  if (typeof schema.const === 'string') return `'${schema.const}'`;
  switch (schema.type) {
    case 'array':
      return `a list (each ${describeSchema((schema.items ?? {}) as Record<string, unknown>)})`;
    case 'object':
      return 'a mapping';
    case 'integer':
      return 'a whole number';
    case 'number':
      return 'a number';
    case 'string':
      return 'text';
    case 'boolean':
      return 'true or false';
    default:
      return 'something else';
  }
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `'${value}'`;
  return JSON.stringify(value);
}

function issueToProblem(issue: SchemaError, locate: Locator): RuleProblem {
  const path = pointerSegments(issue.instancePath);
  const field = humanPath(path);
  const prefix = field === '' ? '' : `${field}: `;
  const { params, schema, value } = issue;
  switch (issue.keyword) {
    case 'required': {
      const missing = (params.requiredProperties as string[] | undefined) ?? [];
      return locate(path, `${prefix}missing ${missing.map((m) => `'${m}'`).join(', ')}`);
    }
    case 'additionalProperties': {
      const extra = (params.additionalProperties as string[] | undefined) ?? [];
      const allowed = Object.keys(schema.properties ?? {}).join(', ');
      const first = extra[0] ?? '';
      return locate(
        [...path, first],
        `${prefix}unknown field ${extra.map((e) => `'${e}'`).join(', ')} (expected one of: ${allowed})`,
        { isKey: true },
      );
    }
    case 'propertyNames': {
      const names = (params.propertyNames as string[] | undefined) ?? [];
      const form = describeSchema((schema.propertyNames ?? {}) as Record<string, unknown>);
      const first = names[0] ?? '';
      return locate([...path, first], `${prefix}${names.map((n) => `'${n}'`).join(', ')} is not ${form}`, {
        isKey: true,
      });
    }
    case 'enum':
    case 'tag': {
      const allowed = (params.allowedValues as unknown[] | undefined) ?? [];
      return locate(path, `${prefix}${describeValue(value)} is not one of: ${allowed.join(', ')}`);
    }
    case 'const':
      return locate(path, `${prefix}must be '${String(params.allowedValue)}', not ${describeValue(value)}`);
    case 'type': {
      const hint =
        typeof value === 'number' && fitsType(schema, 'text')
          ? " (write it in quotes: unquoted, YAML reads digits and '+' as a number)"
          : '';
      return locate(path, `${prefix}expected ${describeSchema(schema)}, got ${describeValue(value)}${hint}`);
    }
    case 'minimum':
    case 'exclusiveMinimum':
      return locate(path, `${prefix}${describeValue(value)} is below the minimum of ${String(params.limit)}`);
    case 'maximum':
    case 'exclusiveMaximum':
      return locate(path, `${prefix}${describeValue(value)} is above the maximum of ${String(params.limit)}`);
    case 'pattern':
      return locate(path, `${prefix}${describeValue(value)} is not ${describeSchema(schema)}`);
    case 'minLength':
      return locate(path, `${prefix}must not be empty`);
    case 'minItems':
      return locate(path, `${prefix}must list at least ${String(params.limit)}`);
    case 'uniqueItems':
      return locate(path, `${prefix}lists the same value twice`);
    case 'minProperties':
      return locate(path, `${prefix}needs at least ${String(params.limit)} fields`);
    default:
      return locate(path, `${prefix}is invalid (${issue.keyword})`);
  }
}

/** `queues[0].afterHours.action` */
function humanPath(path: Path): string {
  return path.map((s, i) => (/^\d+$/.test(String(s)) ? `[${s}]` : i === 0 ? String(s) : `.${s}`)).join('');
}

// ---- Locating a value in the YAML source. ----

type Locator = (path: Path, reason: string, options?: { isKey?: boolean }) => RuleProblem;

/** The problem points at the deepest node of `path` that exists: the offending value, or its key. */
function locator(file: string, doc: Document, lines: LineCounter): Locator {
  return (path, reason, options = {}) => {
    const node = nodeAt(doc, path, options.isKey ?? false);
    const offset = node?.range?.[0];
    if (offset === undefined) return { file, line: 1, column: 1, reason };
    const { line, col } = lines.linePos(offset);
    return { file, line, column: col, reason };
  };
}

function nodeAt(doc: Document, path: Path, isKey: boolean): Node | undefined {
  let node: unknown = doc.contents;
  let found = node as Node | undefined;
  for (let i = 0; i < path.length; i++) {
    const segment = String(path[i]);
    const isLast = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === segment);
      if (!pair) return found;
      const key = pair.key as Node;
      node = pair.value;
      // An empty value (`when:`) has no node of its own: point at its key.
      found = isLast && isKey ? key : ((pair.value as Node | null) ?? key);
    } else if (isSeq(node)) {
      node = node.items[Number(segment)];
      if (!node) return found;
      found = node as Node;
    } else return found;
  }
  return found;
}

// ---- The whole set: merge, cross-check, resolve. ----

interface Origin {
  file: ParsedFile;
  path: Path;
}

const at = (origin: Origin, ...more: (string | number)[]): Origin => ({
  file: origin.file,
  path: [...origin.path, ...more],
});

type Report = (origin: Origin, reason: string, options?: { isKey?: boolean }) => void;

/** Reports a problem at an origin, and says where an earlier definition is ("queues.yaml:3"). */
interface Checker {
  report: Report;
  where: (origin: Origin) => string;
}

interface Located<T> {
  spec: T;
  origin: Origin;
}

/** All files' sections with where each entry came from; names defined twice are refused here. */
interface Collected {
  calendars: Map<string, Located<CalendarSpec>>;
  queues: Map<string, Located<QueueSpec>>;
  rules: Located<RuleSpec>[];
  capacity?: Located<CapacitySpec>;
  options?: Located<OptionsSpec>;
  ivr?: Located<IvrSpec>;
}

function checkAndResolve(
  files: readonly ParsedFile[],
  folder: string,
): { rules: Omit<RuleSet, 'fingerprint'> } | { problems: RuleProblem[] } {
  const problems: RuleProblem[] = [];
  const locators = new Map(files.map((f) => [f, locator(f.name, f.doc, f.lines)]));
  const locate = (origin: Origin) => locators.get(origin.file) as Locator;
  const checker: Checker = {
    report: (origin, reason, options) => problems.push(locate(origin)(origin.path, reason, options)),
    where: (origin) => `${origin.file.name}:${locate(origin)(origin.path, '').line}`,
  };

  const collected = collect(files, checker);
  if (collected.queues.size === 0)
    problems.push({ file: folder, line: 0, column: 0, reason: 'no queues are defined' });
  if (collected.rules.length === 0)
    problems.push({ file: folder, line: 0, column: 0, reason: 'no rules are defined' });
  const optionsSpec = collected.options?.spec ?? {};
  const options: RoutingOptions = {
    ...ruleDefaults.options,
    ...optionsSpec,
    dispositions: collected.options
      ? resolveDispositions(
          optionsSpec.dispositions,
          at(collected.options.origin, 'dispositions'),
          checker.report,
          'options',
        )
      : [],
  };
  const calendars = resolveCalendars(collected, checker);
  const queues = resolveQueues(collected, calendars, options, checker);
  const rules = resolveRules(collected, checker);
  const ivr = collected.ivr ? resolveIvr(collected.ivr, queues, checker) : null;
  if (problems.length > 0) return { problems };
  return {
    rules: {
      queues,
      rules,
      capacity: resolveCapacity(collected.capacity?.spec ?? {}),
      options,
      ivr,
      files: files.map((f) => f.name),
    },
  };
}

function collect(files: readonly ParsedFile[], { report, where }: Checker): Collected {
  const collected: Collected = { calendars: new Map(), queues: new Map(), rules: [] };
  for (const file of files) {
    for (const [name, spec] of Object.entries(file.spec.calendars ?? {})) {
      const origin = { file, path: ['calendars', name] };
      const earlier = collected.calendars.get(name);
      if (earlier)
        report(origin, `calendar '${name}' is already defined at ${where(earlier.origin)}`, { isKey: true });
      else collected.calendars.set(name, { spec, origin });
    }
    (file.spec.queues ?? []).forEach((spec, i) => {
      const origin = { file, path: ['queues', i] };
      const earlier = collected.queues.get(spec.name);
      if (earlier) {
        const first = where(at(earlier.origin, 'name'));
        report(at(origin, 'name'), `queue '${spec.name}' is already defined at ${first}`);
      } else collected.queues.set(spec.name, { spec, origin });
    });
    (file.spec.rules ?? []).forEach((spec, i) =>
      collected.rules.push({ spec, origin: { file, path: ['rules', i] } }),
    );
    const { capacity, options, ivr } = file.spec;
    if (ivr) {
      const origin = { file, path: ['ivr'] };
      if (collected.ivr)
        report(origin, `ivr is already set in ${where(collected.ivr.origin)}`, { isKey: true });
      else collected.ivr = { spec: ivr, origin };
    }
    if (capacity) {
      const origin = { file, path: ['capacity'] };
      if (collected.capacity) {
        report(origin, `capacity is already set in ${where(collected.capacity.origin)}`, { isKey: true });
      } else collected.capacity = { spec: capacity, origin };
    }
    if (options) {
      const origin = { file, path: ['options'] };
      if (collected.options) {
        report(origin, `options are already set in ${where(collected.options.origin)}`, { isKey: true });
      } else collected.options = { spec: options, origin };
    }
  }
  return collected;
}

function resolveCalendars({ calendars }: Collected, { report }: Checker): Map<string, Calendar> {
  const resolved = new Map<string, Calendar>();
  for (const [name, { spec, origin }] of calendars) {
    const context = `calendar '${name}'`;
    checkTimeZone(spec.timeZone, at(origin, 'timeZone'), report, context);
    const weekly: Partial<Record<Weekday, Interval[]>> = {};
    for (const day of weekdays) {
      const list = spec.weekly[day];
      if (list) weekly[day] = checkIntervals(list, at(origin, 'weekly', day), report, `${context} ${day}`);
    }
    const seen = new Set<string>();
    (spec.holidays ?? []).forEach((holiday, i) => {
      const dateAt = at(origin, 'holidays', i, 'date');
      if (!isRealDate(holiday.date))
        report(dateAt, `${context}: holiday '${holiday.date}' is not a real date`);
      else if (seen.has(holiday.date))
        report(dateAt, `${context}: holiday '${holiday.date}' is listed twice`);
      seen.add(holiday.date);
    });
    resolved.set(name, {
      name,
      timeZone: spec.timeZone,
      weekly,
      holidays: (spec.holidays ?? []).map((h) =>
        h.name ? { date: h.date, name: h.name } : { date: h.date },
      ),
    });
  }
  return resolved;
}

function resolveQueues(
  collected: Collected,
  calendars: ReadonlyMap<string, Calendar>,
  options: RoutingOptions,
  { report }: Checker,
): Map<string, Queue> {
  const known = (names: Iterable<string>) => [...names].join(', ') || 'none';
  const checkQueueRef = (target: string, self: string, origin: Origin, what: string) => {
    if (!collected.queues.has(target)) {
      report(origin, `${what} unknown queue '${target}' (known: ${known(collected.queues.keys())})`);
    } else if (target === self) report(origin, `${what} its own queue '${target}'`);
  };

  const queues = new Map<string, Queue>();
  for (const [name, { spec, origin }] of collected.queues) {
    const context = `queue '${name}'`;
    if (spec.strategy === 'account-owner' && !spec.secondaryStrategy) {
      report(at(origin, 'strategy'), `${context}: account-owner needs a secondaryStrategy to fall back to`);
    }
    if (spec.strategy !== 'account-owner' && spec.secondaryStrategy) {
      report(
        at(origin, 'secondaryStrategy'),
        `${context}: only account-owner queues have a secondaryStrategy`,
      );
    }
    const requiredSkills = Object.entries(spec.skills ?? {})
      .map(([skill, minLevel]) => ({ skill, minLevel: minLevel as SkillRequirement['minLevel'] }))
      .sort((a, b) => (a.skill < b.skill ? -1 : 1));
    if ((spec.strategy === 'skills' || spec.secondaryStrategy === 'skills') && requiredSkills.length === 0) {
      report(at(origin, 'strategy'), `${context}: the skills strategy needs at least one skill`);
    }
    const calendar = spec.hours === undefined ? null : (calendars.get(spec.hours) ?? null);
    if (spec.hours !== undefined && !calendar) {
      report(
        at(origin, 'hours'),
        `${context}: unknown calendar '${spec.hours}' (known: ${known(calendars.keys())})`,
      );
    }
    const afterHours = spec.afterHours;
    if (afterHours && spec.hours === undefined) {
      report(at(origin, 'afterHours'), `${context}: afterHours needs hours (the queue is always open)`, {
        isKey: true,
      });
    }
    if (afterHours?.action === 'move-to') {
      checkQueueRef(
        afterHours.queue,
        name,
        at(origin, 'afterHours', 'queue'),
        `${context}: afterHours moves to`,
      );
    }
    if (afterHours?.action === 'voicemail' && !spec.channels.includes('voice')) {
      report(at(origin, 'afterHours', 'action'), `${context}: voicemail needs a queue that serves voice`);
    }
    let previousAfter = 0;
    let movedAt: number | undefined;
    (spec.escalation ?? []).forEach((step, i) => {
      const stepAt = at(origin, 'escalation', i);
      if (step.afterSeconds < previousAfter) {
        report(
          at(stepAt, 'afterSeconds'),
          `${context}: escalation steps go in order of afterSeconds (${step.afterSeconds} comes after ${previousAfter})`,
        );
      }
      previousAfter = Math.max(previousAfter, step.afterSeconds);
      if (movedAt !== undefined) {
        report(
          at(stepAt, 'action'),
          `${context}: this step never runs: the contact has moved at ${movedAt}s`,
        );
      }
      switch (step.action) {
        case 'add-queue':
          checkQueueRef(step.queue, name, at(stepAt, 'queue'), `${context}: escalation adds`);
          break;
        case 'move-to':
          checkQueueRef(step.queue, name, at(stepAt, 'queue'), `${context}: escalation moves to`);
          movedAt = step.afterSeconds;
          break;
        case 'relax-skills':
          if (requiredSkills.length === 0) {
            report(at(stepAt, 'action'), `${context}: relax-skills on a queue that requires no skills`);
          }
          break;
        case 'raise-priority':
          break;
      }
    });
    const sla = resolveSla(
      spec,
      calendar,
      origin,
      context,
      (target, where, what) => checkQueueRef(target, name, where, what),
      report,
    );
    queues.set(name, {
      name,
      strategy: spec.strategy,
      secondaryStrategy: spec.secondaryStrategy ?? null,
      requiredSkills,
      channels: spec.channels,
      offerTimeoutSeconds: spec.offerTimeoutSeconds ?? options.offerTimeoutSeconds,
      wrapUpSeconds: spec.wrapUpSeconds ?? ruleDefaults.wrapUpSeconds,
      serviceLevelSeconds: spec.serviceLevelSeconds ?? ruleDefaults.serviceLevelSeconds,
      serviceLevelTarget: (spec.serviceLevelTarget ?? ruleDefaults.serviceLevelTarget * 100) / 100,
      longestWaitAlertSeconds:
        spec.longestWaitAlertSeconds ??
        ruleDefaults.longestWaitFactor * (spec.serviceLevelSeconds ?? ruleDefaults.serviceLevelSeconds),
      sla,
      hours: calendar,
      afterHours: afterHours ?? ruleDefaults.afterHours,
      escalation: spec.escalation ?? [],
      dispositions: spec.dispositions
        ? resolveDispositions(spec.dispositions, at(origin, 'dispositions'), report, context)
        : options.dispositions,
    });
  }
  return queues;
}

/**
 * A queue's SLA policies by channel. Refused: a channel the queue does not serve, a channel in two policies, a
 * policy without targets, a warning no earlier than a target it warns of, a move-to an unknown queue, and
 * business hours on a queue that has none (say `businessHours: false`: the clocks would run around the clock).
 */
function resolveSla(
  spec: QueueSpec,
  calendar: Calendar | null,
  origin: Origin,
  context: string,
  checkQueue: (target: string, where: Origin, what: string) => void,
  report: Report,
): Map<Channel, SlaPolicy> {
  const byChannel = new Map<Channel, SlaPolicy>();
  (spec.sla ?? []).forEach((policySpec, i) => {
    const policyAt = at(origin, 'sla', i);
    const duration = (key: 'firstResponse' | 'nextResponse' | 'resolution' | 'warnBefore') => {
      const text = policySpec[key];
      if (text === undefined) return undefined;
      const seconds = parseDuration(text);
      if (seconds === null || seconds <= 0)
        report(at(policyAt, key), `${context}: sla ${key} '${text}' is not a duration such as 30m or 4h`);
      return seconds ?? undefined;
    };
    const targets: Partial<Record<SlaMetric, number>> = {};
    for (const metric of slaMetrics) {
      const seconds = duration(metric);
      if (seconds !== undefined && seconds > 0) targets[metric] = seconds;
    }
    if (slaMetrics.every((metric) => policySpec[metric] === undefined))
      report(policyAt, `${context}: an sla policy needs firstResponse, nextResponse or resolution`);
    const warnBeforeSeconds = duration('warnBefore') ?? null;
    if (warnBeforeSeconds !== null) {
      for (const [metric, seconds] of Object.entries(targets)) {
        if (warnBeforeSeconds >= seconds)
          report(
            at(policyAt, 'warnBefore'),
            `${context}: sla warnBefore ${policySpec.warnBefore} is not shorter than ${metric} ${policySpec[metric as SlaMetric]}`,
          );
      }
    }
    const isBusinessHours = policySpec.businessHours ?? true;
    const neverOpens = calendar !== null && Object.values(calendar.weekly).every((day) => !day?.length);
    if (isBusinessHours && neverOpens)
      report(
        at(policyAt, 'businessHours'),
        `${context}: sla counted in business hours, but calendar '${calendar.name}' never opens`,
      );
    if (spec.hours === undefined && policySpec.businessHours === true)
      report(
        at(policyAt, 'businessHours'),
        `${context}: sla businessHours needs the queue's hours (the queue is always open)`,
      );
    const actions = (key: 'onWarning' | 'onBreach') =>
      (policySpec[key] ?? []).map((action, j) => {
        if (action.action === 'move-to')
          checkQueue(action.queue, at(policyAt, key, j, 'queue'), `${context}: sla ${key} moves to`);
        return action;
      });
    const listed = policySpec.channels === undefined ? spec.channels : [policySpec.channels].flat();
    const policy: SlaPolicy = {
      channels: listed,
      targets,
      warnBeforeSeconds,
      isBusinessHours,
      onWarning: actions('onWarning'),
      onBreach: actions('onBreach'),
    };
    for (const channel of listed) {
      if (!spec.channels.includes(channel))
        report(
          at(policyAt, 'channels'),
          `${context}: sla for '${channel}', a channel the queue does not serve`,
        );
      else if (byChannel.has(channel))
        report(at(policyAt, 'channels'), `${context}: '${channel}' is in two sla policies`);
      else byChannel.set(channel, policy);
    }
  });
  return byChannel;
}

/** Labels defaulted to the code; a code listed twice is refused. */
function resolveDispositions(
  specs: readonly DispositionSpec[] | undefined,
  origin: Origin,
  report: Report,
  context: string,
): Disposition[] {
  const seen = new Set<string>();
  return (specs ?? []).map((spec, i) => {
    if (seen.has(spec.code))
      report(at(origin, i, 'code'), `${context}: disposition '${spec.code}' is listed twice`);
    seen.add(spec.code);
    return { code: spec.code, label: spec.label ?? spec.code };
  });
}

function resolveRules(collected: Collected, { report, where }: Checker): MatchRule[] {
  const rules: MatchRule[] = [];
  const names = new Map<string, Origin>();
  let catchAll: string | undefined;
  collected.rules.forEach(({ spec, origin }, i) => {
    const context = `rule '${spec.name}'`;
    const earlier = names.get(spec.name);
    if (earlier) report(at(origin, 'name'), `${context} is already defined at ${where(at(earlier, 'name'))}`);
    names.set(spec.name, origin);
    if (catchAll !== undefined) {
      report(at(origin, 'name'), `${context} never matches: rule '${catchAll}' before it matches everything`);
    }
    const queue = collected.queues.get(spec.queue);
    if (!queue) {
      const known = [...collected.queues.keys()].join(', ');
      report(at(origin, 'queue'), `${context} routes to unknown queue '${spec.queue}' (known: ${known})`);
    }
    const when = normalizeConditions(spec.when ?? {}, at(origin, 'when'), report, context);
    const unserved = queue ? (when.channels ?? []).filter((c) => !queue.spec.channels.includes(c)) : [];
    if (unserved.length > 0) {
      report(
        at(origin, 'when', 'channel'),
        `${context}: queue '${spec.queue}' does not serve ${unserved.join(', ')}`,
      );
    }
    const isCatchAll = Object.keys(spec.when ?? {}).length === 0;
    if (isCatchAll) catchAll ??= spec.name;
    if (i === collected.rules.length - 1 && !isCatchAll) {
      report(
        at(origin, 'name'),
        `${context}: the last rule must match everything (no 'when'), so that every contact is routed`,
      );
    }
    rules.push({ name: spec.name, queue: spec.queue, priority: spec.priority, when });
  });
  return rules;
}

function checkTimeZone(timeZone: string, origin: Origin, report: Report, context: string): void {
  if (!isTimeZone(timeZone)) {
    report(
      origin,
      `${context}: '${timeZone}' is not a time zone this server knows (use an IANA name like America/New_York)`,
    );
  }
}

export function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

function isRealDate(date: string): boolean {
  const parsed = new Date(`${date}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === date;
}

/** `08:00-12:30` -> minutes; the schema has checked the form. */
function parseInterval(text: string): Interval {
  const [from = '', to = ''] = text.split('-');
  const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
  return { from: minutes(from), to: minutes(to) };
}

/** Parses a day's intervals, refusing empty, reversed and overlapping ones. Returns them sorted. */
function checkIntervals(
  texts: readonly string[],
  origin: Origin,
  report: Report,
  context: string,
): Interval[] {
  const parsed = texts.map((text, i) => ({ text, i, interval: parseInterval(text) }));
  for (const { text, i, interval } of parsed) {
    if (interval.to < interval.from) {
      report(
        { ...origin, path: [...origin.path, i] },
        `${context}: interval '${text}' ends before it starts (split an interval that crosses midnight over two days)`,
      );
    } else if (interval.to === interval.from) {
      report({ ...origin, path: [...origin.path, i] }, `${context}: interval '${text}' is empty`);
    }
  }
  const sorted = [...parsed].sort((a, b) => a.interval.from - b.interval.from);
  for (let k = 1; k < sorted.length; k++) {
    const previous = sorted[k - 1];
    const current = sorted[k];
    if (previous && current && current.interval.from < previous.interval.to) {
      report(
        { ...origin, path: [...origin.path, current.i] },
        `${context}: interval '${current.text}' overlaps '${previous.text}'`,
      );
    }
  }
  return sorted.map((p) => p.interval);
}

const asList = <T>(value: T | readonly T[] | undefined): readonly T[] | undefined =>
  value === undefined ? undefined : Array.isArray(value) ? (value as readonly T[]) : [value as T];

function normalizeConditions(
  spec: ConditionsSpec,
  origin: Origin,
  report: Report,
  context: string,
): Conditions {
  const lower = (values: readonly string[] | undefined) => values?.map((v) => v.trim().toLowerCase());
  const conditions: Conditions = { keywordsIn: asList(spec.keywordsIn) ?? ['subject', 'text'] };
  const channelList = asList(spec.channel);
  if (channelList) conditions.channels = channelList;
  const ivr = asList(spec.ivrChoice);
  if (ivr) conditions.ivrChoices = ivr.map((c) => String(c).trim());
  const receivedOn = lower(asList(spec.receivedOn));
  if (receivedOn) conditions.receivedOn = receivedOn;
  const tiers = lower(asList(spec.customerTier));
  if (tiers) conditions.customerTiers = tiers;
  const accounts = asList(spec.accountId);
  if (accounts) conditions.accountIds = accounts.map((a) => a.trim());
  if (spec.hasAccountOwner !== undefined) conditions.hasAccountOwner = spec.hasAccountOwner;
  const keywords = asList(spec.keywords);
  if (keywords) conditions.keywords = keywords.map(keywordWords);
  else if (spec.keywordsIn !== undefined) {
    report({ ...origin, path: [...origin.path, 'keywordsIn'] }, `${context}: keywordsIn needs keywords`, {
      isKey: true,
    });
  }
  const locales = lower(asList(spec.locale));
  if (locales) conditions.locales = locales;
  if (spec.during) {
    const duringAt = { ...origin, path: [...origin.path, 'during'] };
    checkTimeZone(
      spec.during.timeZone,
      { ...duringAt, path: [...duringAt.path, 'timeZone'] },
      report,
      context,
    );
    const window: TimeWindow = {
      timeZone: spec.during.timeZone,
      days: spec.during.days ?? null,
      intervals: spec.during.hours
        ? checkIntervals(
            spec.during.hours,
            { ...duringAt, path: [...duringAt.path, 'hours'] },
            report,
            context,
          )
        : null,
    };
    conditions.during = window;
  }
  return conditions;
}

function resolveCapacity(spec: CapacitySpec): Record<Channel, ChannelCapacity> {
  const resolved = { ...ruleDefaults.capacity } as Record<Channel, ChannelCapacity>;
  for (const channel of channels) {
    const given = spec[channel];
    if (given) resolved[channel] = { max: given.max, isExclusive: given.exclusive ?? channel === 'voice' };
  }
  return resolved;
}

// ---- The rules in force. ----

export type LoadOutcome =
  /** A new rule set is in force; `previous` is what it replaced (undefined on the first load). */
  | { status: 'loaded'; rules: RuleSet; previous: RuleSet | undefined }
  /** The files changed nothing (same names and contents): no new version to audit. */
  | { status: 'unchanged'; rules: RuleSet }
  /** Refused; the rules in force (if any) stay. */
  | { status: 'refused'; problems: RuleProblem[]; inForce: RuleSet | undefined };

export interface RulesStoreOptions {
  /** Quiet time after the last file event before reloading: editors write a file in several steps. */
  debounceMs?: number;
}

/**
 * Holds the rules in force for one folder. `load()` reads and checks every rule file; only a valid set replaces
 * the rules in force. `watch()` reloads on change and hands each outcome to the caller, who logs and audits.
 */
export class RulesStore {
  readonly #folder: string;
  readonly #debounceMs: number;
  #current: RuleSet | undefined;
  /** Loads run one after another, so an older read can never replace a newer one. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(folder: string, options: RulesStoreOptions = {}) {
    this.#folder = folder;
    this.#debounceMs = options.debounceMs ?? 200;
  }

  /** The rules in force; undefined until the first valid load. */
  get current(): RuleSet | undefined {
    return this.#current;
  }

  load(): Promise<LoadOutcome> {
    const next = this.#chain.then(() => this.#loadNow());
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async #loadNow(): Promise<LoadOutcome> {
    const read = await readRuleFolder(this.#folder);
    const parsed =
      'problems' in read ? { status: 'invalid' as const, ...read } : parseRuleFiles(read.files, this.#folder);
    const previous = this.#current;
    if (parsed.status === 'invalid')
      return { status: 'refused', problems: parsed.problems, inForce: previous };
    if (previous?.fingerprint === parsed.rules.fingerprint) return { status: 'unchanged', rules: previous };
    this.#current = parsed.rules;
    return { status: 'loaded', rules: parsed.rules, previous };
  }

  /**
   * Reloads whenever a rule file in the folder changes (added, edited, renamed, removed), after `debounceMs` of
   * quiet. Every outcome, including a refusal, goes to `onOutcome`. Returns a function that stops watching.
   */
  watch(onOutcome: (outcome: LoadOutcome) => void): () => void {
    let timer: NodeJS.Timeout | undefined;
    const reload = () => {
      timer = undefined;
      this.load().then(onOutcome, (error: unknown) =>
        onOutcome({
          status: 'refused',
          problems: [
            { file: this.#folder, line: 0, column: 0, reason: `could not reload: ${String(error)}` },
          ],
          inForce: this.#current,
        }),
      );
    };
    let watcher: FSWatcher;
    try {
      watcher = watchFolder(this.#folder, (_event, fileName) => {
        if (fileName !== null && !isRuleFileName(fileName)) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(reload, this.#debounceMs);
      });
    } catch (error) {
      onOutcome({
        status: 'refused',
        problems: [
          { file: this.#folder, line: 0, column: 0, reason: `cannot watch the folder: ${String(error)}` },
        ],
        inForce: this.#current,
      });
      return () => undefined;
    }
    watcher.on('error', (error) =>
      onOutcome({
        status: 'refused',
        problems: [{ file: this.#folder, line: 0, column: 0, reason: `watching stopped: ${String(error)}` }],
        inForce: this.#current,
      }),
    );
    return () => {
      if (timer) clearTimeout(timer);
      watcher.close();
    };
  }
}

const isRuleFileName = (name: string) => /\.ya?ml$/i.test(name) && !name.startsWith('.');

/** Reads every rule file directly in `folder`. The only disk access in routing's rule handling. */
export async function readRuleFolder(
  folder: string,
): Promise<{ files: RuleFileSource[] } | { problems: RuleProblem[] }> {
  let names: string[];
  try {
    const entries = await readdir(folder, { withFileTypes: true });
    names = entries.filter((e) => e.isFile() && isRuleFileName(e.name)).map((e) => e.name);
  } catch (error) {
    return {
      problems: [{ file: folder, line: 0, column: 0, reason: `cannot read the folder: ${String(error)}` }],
    };
  }
  if (names.length === 0) {
    return { problems: [{ file: folder, line: 0, column: 0, reason: 'no *.yaml or *.yml rule files' }] };
  }
  const files: RuleFileSource[] = [];
  const problems: RuleProblem[] = [];
  for (const name of names) {
    const path = join(folder, name);
    try {
      files.push({ name: path, text: await readFile(path, 'utf8') });
    } catch (error) {
      // Removed between readdir and read (an editor's rename dance): the next event reloads again.
      problems.push({ file: path, line: 0, column: 0, reason: `cannot read: ${String(error)}` });
    }
  }
  return problems.length > 0 ? { problems } : { files };
}

// ---- The IVR: prompts per language, steps that lead somewhere, lookups and queues that exist. ----

/** Lower case, no accents, no punctuation, single spaces: how speech is compared with menu words. */
export function normalizeSpeech(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

function resolveIvr(
  located: Located<IvrSpec>,
  queues: ReadonlyMap<string, Queue>,
  { report }: Checker,
): IvrRules {
  const { spec, origin } = located;
  const languages = Object.entries(spec.languages).map(([tag, l]) => ({ tag, voice: l.voice ?? null }));
  const tags = new Set(languages.map((l) => l.tag));
  const lookups = new Map<string, IvrLookup>();
  for (const [name, l] of Object.entries(spec.lookups ?? {}))
    lookups.set(name, {
      name,
      url: l.url,
      method: l.method ?? 'GET',
      headers: l.headers ?? {},
      timeoutMs: l.timeoutMs ?? ivrDefaults.lookupTimeoutMs,
    });

  const prompt = (value: PromptSpec, where: Origin): Prompt => {
    if (typeof value === 'string') return Object.fromEntries([...tags].map((t) => [t, { say: value }]));
    if ('play' in value && typeof value.play === 'string')
      return Object.fromEntries([...tags].map((t) => [t, { play: value.play as string }]));
    const byTag = value as Record<string, string | { play: string }>;
    for (const tag of Object.keys(byTag))
      if (!tags.has(tag))
        report(at(where, tag), `language '${tag}' is not among the ivr's languages`, { isKey: true });
    const missing = [...tags].filter((t) => byTag[t] === undefined);
    if (missing.length > 0) report(where, `no prompt for ${missing.map((t) => `'${t}'`).join(', ')}`);
    return Object.fromEntries(
      [...tags].map((t) => {
        const part = byTag[t] ?? '';
        return [t, typeof part === 'string' ? { say: part } : { play: part.play }];
      }),
    );
  };

  const flows = new Map<string, IvrFlow>();
  for (const [flowName, flowSpec] of Object.entries(spec.flows)) {
    const flowOrigin = at(origin, 'flows', flowName);
    const names = new Set(Object.keys(flowSpec.steps));
    const known = (name: string | undefined, where: Origin) => {
      if (name !== undefined && !names.has(name)) report(where, `no step '${name}' in flow '${flowName}'`);
    };
    known(flowSpec.start, at(flowOrigin, 'start'));
    const steps = new Map<string, IvrStep>();
    for (const [name, stepSpec] of Object.entries(flowSpec.steps)) {
      const stepOrigin = at(flowOrigin, 'steps', name);
      steps.set(
        name,
        resolveStep(name, stepSpec, stepOrigin, { prompt, known, report, queues, lookups, tags }),
      );
    }
    checkSilentLoops(flowName, steps, flowOrigin, report);
    flows.set(flowName, { name: flowName, start: flowSpec.start, steps });
  }
  if (!flows.has(spec.defaultFlow)) report(at(origin, 'defaultFlow'), `no flow '${spec.defaultFlow}'`);
  const numbers = new Map<string, string>();
  for (const [number, flow] of Object.entries(spec.numbers ?? {})) {
    if (!flows.has(flow)) report(at(origin, 'numbers', number), `no flow '${flow}'`);
    numbers.set(number, flow);
  }
  return {
    languages,
    numbers,
    defaultFlow: spec.defaultFlow,
    holdMusic: spec.holdMusic ?? ivrDefaults.holdMusic,
    announceEverySeconds: spec.announceEverySeconds ?? ivrDefaults.announceEverySeconds,
    offerCallback: spec.offerCallback ?? true,
    lookups,
    flows,
  };
}

interface StepContext {
  prompt: (value: PromptSpec, where: Origin) => Prompt;
  known: (name: string | undefined, where: Origin) => void;
  report: Report;
  queues: ReadonlyMap<string, Queue>;
  lookups: ReadonlyMap<string, IvrLookup>;
  tags: ReadonlySet<string>;
}

function resolveStep(name: string, spec: StepSpec, origin: Origin, c: StepContext): IvrStep {
  if ('say' in spec) {
    c.known(spec.next, at(origin, 'next'));
    return {
      kind: 'say',
      name,
      prompt: c.prompt(spec.say, at(origin, 'say')),
      promptToKnown: spec.sayToKnown ? c.prompt(spec.sayToKnown, at(origin, 'sayToKnown')) : null,
      next: spec.next,
    };
  }
  if ('menu' in spec) {
    const m = spec.menu;
    const where = at(origin, 'menu');
    c.known(m.onFailure, at(where, 'onFailure'));
    const pressed = new Map<string, number>();
    const options: MenuOption[] = m.options.map((o, i) => {
      const optionAt = at(where, 'options', i);
      c.known(o.next, at(optionAt, 'next'));
      if (o.press === undefined && o.say === undefined)
        c.report(optionAt, 'an option needs `press` or `say`');
      if (o.press !== undefined) {
        const earlier = pressed.get(o.press);
        if (earlier !== undefined)
          c.report(at(optionAt, 'press'), `key '${o.press}' already chooses option ${earlier + 1}`);
        pressed.set(o.press, i);
      }
      if (o.language !== undefined && !c.tags.has(o.language))
        c.report(at(optionAt, 'language'), `language '${o.language}' is not among the ivr's languages`);
      return {
        press: o.press ?? null,
        say: (o.say ?? []).map(normalizeSpeech).filter((w) => w.length > 0),
        language: o.language ?? null,
        next: o.next,
      };
    });
    const lengths = new Set(options.flatMap((o) => (o.press ? [o.press.length] : [])));
    if (lengths.size > 1)
      c.report(at(where, 'options'), 'every `press` of a menu must have the same number of keys');
    return {
      kind: 'menu',
      name,
      prompt: c.prompt(m.prompt, at(where, 'prompt')),
      options,
      ...retryPolicy(m, where, c),
    };
  }
  if ('collect' in spec) {
    const g = spec.collect;
    const where = at(origin, 'collect');
    c.known(g.next, at(where, 'next'));
    c.known(g.onFailure, at(where, 'onFailure'));
    const minDigits = g.minDigits ?? ivrDefaults.minDigits;
    const maxDigits = g.maxDigits ?? ivrDefaults.maxDigits;
    if (minDigits > maxDigits)
      c.report(at(where, 'minDigits'), `minDigits ${minDigits} is above maxDigits ${maxDigits}`);
    let pattern: RegExp | null = null;
    if (g.pattern !== undefined) {
      try {
        pattern = new RegExp(`^(?:${g.pattern})$`);
      } catch (error) {
        c.report(at(where, 'pattern'), `not a regular expression: ${(error as Error).message}`);
      }
    }
    return {
      kind: 'collect',
      name,
      prompt: c.prompt(g.prompt, at(where, 'prompt')),
      as: g.as,
      minDigits,
      maxDigits,
      pattern,
      finishOnKey: g.finishOnKey ?? ivrDefaults.finishOnKey,
      next: g.next,
      ...retryPolicy(g, where, c),
    };
  }
  if ('lookup' in spec) {
    const l = spec.lookup;
    const where = at(origin, 'lookup');
    if (!c.lookups.has(l.use)) c.report(at(where, 'use'), `no lookup '${l.use}' in ivr.lookups`);
    c.known(l.next, at(where, 'next'));
    c.known(l.onError, at(where, 'onError'));
    return {
      kind: 'lookup',
      name,
      use: l.use,
      answer: c.prompt(l.answer, at(where, 'answer')),
      notFound: l.notFound ? c.prompt(l.notFound, at(where, 'notFound')) : null,
      next: l.next,
      onError: l.onError ?? null,
    };
  }
  if ('hours' in spec) {
    const h = spec.hours;
    const where = at(origin, 'hours');
    const queue = c.queues.get(h.queue);
    if (!queue) c.report(at(where, 'queue'), `no queue '${h.queue}'`);
    c.known(h.open, at(where, 'open'));
    c.known(h.closed, at(where, 'closed'));
    return { kind: 'hours', name, queue: h.queue, open: h.open, closed: h.closed };
  }
  if ('agent' in spec)
    return {
      kind: 'agent',
      name,
      choice: spec.agent.choice ?? null,
      prompt: spec.agent.prompt ? c.prompt(spec.agent.prompt, at(origin, 'agent', 'prompt')) : null,
    };
  if ('callback' in spec)
    return {
      kind: 'callback',
      name,
      choice: spec.callback.choice ?? null,
      prompt: spec.callback.prompt ? c.prompt(spec.callback.prompt, at(origin, 'callback', 'prompt')) : null,
    };
  if ('voicemail' in spec)
    return {
      kind: 'voicemail',
      name,
      choice: spec.voicemail.choice ?? null,
      prompt: c.prompt(spec.voicemail.prompt, at(origin, 'voicemail', 'prompt')),
      maxSeconds: spec.voicemail.maxSeconds ?? ivrDefaults.voicemailMaxSeconds,
      transcribe: spec.voicemail.transcribe ?? true,
    };
  return { kind: 'hangup', name, prompt: c.prompt(spec.hangup, at(origin, 'hangup')) };
}

function retryPolicy(
  spec: { retries?: number; timeoutSeconds?: number; retryPrompt?: PromptSpec; onFailure?: string },
  where: Origin,
  c: StepContext,
) {
  return {
    retries: spec.retries ?? ivrDefaults.retries,
    timeoutSeconds: spec.timeoutSeconds ?? ivrDefaults.timeoutSeconds,
    retryPrompt: c.prompt(spec.retryPrompt ?? ivrDefaults.retryPrompt, at(where, 'retryPrompt')),
    onFailure: spec.onFailure ?? null,
  };
}

/**
 * Steps that wait for nothing (say, hours, lookup) lead on at once; a cycle made only of them would keep a
 * caller in a loop they cannot leave, and is refused.
 */
function checkSilentLoops(
  flowName: string,
  steps: ReadonlyMap<string, IvrStep>,
  origin: Origin,
  report: Report,
) {
  const silentNext = (step: IvrStep): string[] => {
    switch (step.kind) {
      case 'say':
        return [step.next];
      case 'hours':
        return [step.open, step.closed];
      case 'lookup':
        return [step.next, ...(step.onError ? [step.onError] : [])];
      default:
        return [];
    }
  };
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    const mark = state.get(name);
    if (mark === 'done') return;
    if (mark === 'visiting') {
      const loop = [...path.slice(path.indexOf(name)), name].join(' -> ');
      report(at(origin, 'steps', name), `flow '${flowName}' loops without waiting for the caller: ${loop}`);
      return;
    }
    const step = steps.get(name);
    if (!step) return;
    state.set(name, 'visiting');
    for (const next of silentNext(step)) visit(next, [...path, name]);
    state.set(name, 'done');
  };
  for (const name of steps.keys()) visit(name, []);
}
