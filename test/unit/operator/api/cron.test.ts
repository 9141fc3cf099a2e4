// The CronJob schedule pattern of the CRD: what kube-apiserver accepts for a CronJob, and only that.
import { expect } from "chai";

import { CRON_SCHEDULE } from "../../../../operator/api/cron.ts";
import { scheduleInterval } from "../../../../operator/labcluster/backups.ts";

const accepted = [
  "0 */6 * * *",
  "* * * * *",
  "59 23 31 12 6",
  "0 0 1 1 0",
  "05 04 * * *",
  "0,15,30,45 8-18 * * 1-5",
  "*/5 1-23/2 ? * MON-FRI",
  "30 3 * jan,Jul sun",
  "0 12 1-15/7 * *",
  "0  0\t* * *",
  "@hourly",
  "@daily",
  "@midnight",
  "@weekly",
  "@monthly",
  "@yearly",
  "@annually",
];

const refused: [string, string][] = [
  ["60 * * * *", "minute 60"],
  ["* 24 * * *", "hour 24"],
  ["* * 0 * *", "day of month 0"],
  ["* * 32 * *", "day of month 32"],
  ["* * * 13 *", "month 13"],
  ["* * * * 7", "day of week 7 (the API server's parser stops at 6)"],
  ["* * * * * *", "six fields"],
  ["* * * *", "four fields"],
  ["*/0 * * * *", "a step of 0"],
  ["0 0 * * FOO", "an unknown day name"],
  ["0 0 * JANUARY *", "a long month name"],
  ["@every 1h", "@every (refused in a CronJob)"],
  ["CRON_TZ=UTC 0 0 * * *", "a time zone prefix (spec.timeZone is the CronJob's field)"],
  ["@reboot", "@reboot"],
  [" 0 0 * * *", "leading space"],
  ["0 0 * * * ", "trailing space"],
  ["0 0 * * 1,", "a dangling comma"],
  ["-1 * * * *", "a negative value"],
];

describe("the CronJob schedule pattern", () => {
  for (const schedule of accepted) {
    it(`accepts ${JSON.stringify(schedule)}, which the operator's scheduler reads too`, () => {
      expect(CRON_SCHEDULE.test(schedule)).to.equal(true);
      expect(scheduleInterval(schedule, new Date("2026-01-01T00:00:00Z"))).to.be.greaterThan(0);
    });
  }
  for (const [schedule, why] of refused) {
    it(`refuses ${JSON.stringify(schedule)}: ${why}`, () => {
      expect(CRON_SCHEDULE.test(schedule)).to.equal(false);
    });
  }

  it("uses no syntax that only one of JavaScript's and RE2's engines reads (no lookaround, no inline flags)", () => {
    expect(CRON_SCHEDULE.source).to.not.match(/\(\?[=!<i]/);
  });
});
