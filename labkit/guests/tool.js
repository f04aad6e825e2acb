// The tool-call workload in JavaScript: the same program as tool.py, line for line in
// meaning. Plain script, no require/import, no files, no network. The host calls
// tool(input) with the parsed JSON and serialises what it returns (see labkit/workload.py).

function tool(input) {
  // Approved spending of one day in the report's currency: totals per department, the
  // three biggest spenders, records over the per-expense limit, notes that mention a refund.
  const currency = input.currency, limit = input.limit_cents;
  let count = 0, total = 0, flagged = 0;
  const byDepartment = {}, byEmployee = {}, overLimit = [];
  for (const record of input.records) {
    if (record.status !== "approved" || record.currency !== currency) continue;
    const cents = record.amount_cents;
    count += 1;
    total += cents;
    byDepartment[record.department] = (byDepartment[record.department] || 0) + cents;
    byEmployee[record.employee] = (byEmployee[record.employee] || 0) + cents;
    if (cents > limit) overLimit.push(record.id);
    if (record.note.toLowerCase().includes("refund")) flagged += 1;
  }
  const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  const ranked = Object.entries(byEmployee).sort((a, b) => b[1] - a[1] || byName(a[0], b[0]));
  return {
    date: input.date,
    count: count,
    total_cents: total,
    by_department: byDepartment,
    top_spenders: ranked.slice(0, 3).map(([name, cents]) => ({ employee: name, cents: cents })),
    over_limit: overLimit.sort(byName),
    refund_notes: flagged,
  };
}
