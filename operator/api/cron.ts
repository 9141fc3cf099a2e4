// The CronJob schedule syntax as one regular expression, so the CRD refuses at admission what a CronJob would.
//
// The same language as kube-apiserver's CronJob validation (robfig/cron's standard parser): five fields
// separated by whitespace, each a comma-separated list of `*`, `?`, a value or a range `a-b`, optionally with
// a step `/n`; months and weekdays also by their three-letter names in any case; or one of the @descriptors.
// `@every` and `CRON_TZ=`/`TZ=` prefixes are refused as the API server refuses them in a CronJob's
// spec.schedule (the time zone is the CronJob's own field). Written for both regexp engines that read it:
// JavaScript's (zod, in the operator) and RE2 (the API server's OpenAPI pattern and CEL `matches`).
// A range backwards (`5-1`) is not caught here; the operator reports it as InvalidSchedule.

/** A name matched in any case without inline flags, which the two engines spell differently. */
function anyCase(name: string): string {
  return [...name].map((letter) => `[${letter.toUpperCase()}${letter.toLowerCase()}]`).join("");
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/** The values of each field, in order: minute, hour, day of month, month, day of week. */
const FIELD_VALUES: readonly string[] = [
  "[0-5]?[0-9]",
  "[01]?[0-9]|2[0-3]",
  "0?[1-9]|[12][0-9]|3[01]",
  ["0?[1-9]|1[0-2]", ...MONTHS.map(anyCase)].join("|"),
  ["0?[0-6]", ...WEEKDAYS.map(anyCase)].join("|"),
];

/** One field: a list of `*`, `?`, a value or a range, each with an optional step of 1 to 99. */
function field(values: string): string {
  const value = `(?:${values})`;
  const item = `(?:\\*|\\?|${value}(?:-${value})?)(?:/[1-9][0-9]?)?`;
  return `${item}(?:,${item})*`;
}

const DESCRIPTORS = ["yearly", "annually", "monthly", "weekly", "daily", "midnight", "hourly"];

/** A schedule the API server would accept for a CronJob (see the file comment for what it leaves out). */
export const CRON_SCHEDULE = new RegExp(
  `^(?:@(?:${DESCRIPTORS.join("|")})|${FIELD_VALUES.map(field).join("\\s+")})$`,
);

/** What the CRD says when a schedule does not match. */
export const CRON_SCHEDULE_MESSAGE =
  "must be a CronJob schedule: five fields (minute 0-59, hour 0-23, day of month 1-31, month 1-12 or " +
  "JAN-DEC, day of week 0-6 or SUN-SAT; each *, a value, a range a-b or a list, with an optional /step) " +
  "or @hourly, @daily, @weekly, @monthly, @yearly; times are UTC";
