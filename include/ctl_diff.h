/*
 * ctl_diff.h: what a rules edit changes (`gridctl diff OLD NEW`, and the
 * daemon's reload log line) as a pure function of two loaded rules
 * objects. No I/O; the caller loads and frees both.
 *
 * Who gets what: for every configured unit of either file, every category
 * of both and every level of both (matched by key), the assignees that
 * route_chain gives, compared as sets; the unit is resolved as the daemon
 * would resolve an incident reported there (deepest configured prefix),
 * so a removed grid shows where its incidents go now. The co-assignees of
 * each co_assign role some policy names are compared the same way.
 * Policies, people, levels, categories and units are compared by key.
 */
#ifndef GR_CTL_DIFF_H
#define GR_CTL_DIFF_H

#include "rules.h"

struct ctl_diff {
	size_t assignments; /* (unit, category, level or co_assign role) whose people change */
	size_t policies_added, policies_removed, policies_changed;
	size_t people_added, people_removed, people_changed;
	size_t levels_added, levels_removed, levels_changed;
	size_t categories_added, categories_removed, categories_changed;
	size_t units_added, units_removed, units_changed;
	size_t schedules_added, schedules_removed, schedules_changed;
	size_t calendar_changed; /* 1 when the calendar is added, removed or changed */
};

/*
 * Compare before and after. Fills d (zeroed first) and, when out is not
 * NULL, appends one line per change, each ending in '\n':
 *
 *   xifeng/beijie/beidajie/g03/urban_management/member: [liuyang] -> [chenjing]
 *   xifeng/beijie/beidajie/g03/urban_management/co_assign property: [wuye] -> []
 *   policy added: night-shift (position 2)
 *   policy removed: camera
 *   policy changed: default: ack_within: 30m -> 15m
 *   policy changed: default: order among common policies: 2 -> 1
 *   person added: wangwu (王五)
 *   person removed: xinyi (心怡调解中心)
 *   person changed: liuyang: notify: [sms:1] -> [sms:2]
 *   level added: ..., category removed: ..., unit changed: id: kind: a -> b, likewise
 *   schedule added: night-duty
 *   schedule changed: beijie-duty: slots: [[zhaolei], [sunli]] -> [[zhaolei, sunli]]
 *   calendar changed: covered_until: 2026-12-31 -> 2027-12-31
 *
 * People lists are compared as written: "schedule:beijie-duty" in a list
 * is that schedule, whoever is on duty.
 * A unit that resolves to nothing on one side shows "(unknown unit)".
 * Returns the total number of changes (the sum of d's counts).
 */
size_t ctl_diff_rules(const struct rules *before, const struct rules *after, struct ctl_diff *d,
                      struct buf *out);

/*
 * The summary line, without newline: "3 assignments changed, 1 policy
 * added, 0 policies removed, 1 policy changed, 0 people added, 1 person
 * removed, 0 people changed", followed by the level, category, unit,
 * schedule and calendar counts that are not zero.
 */
void ctl_diff_summary(const struct ctl_diff *d, struct buf *out);

#endif
