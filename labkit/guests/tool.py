# The tool-call workload in Python: what an agent might write to summarise a day of
# expense records. Standard library only, no files, no network. The host calls tool(input)
# with the parsed JSON and serialises what it returns (see labkit/workload.py).


def tool(input):
    """Approved spending of one day in the report's currency: totals per department, the
    three biggest spenders, records over the per-expense limit, notes that mention a refund."""
    currency, limit = input["currency"], input["limit_cents"]
    count = total = flagged = 0
    by_department, by_employee, over_limit = {}, {}, []
    for record in input["records"]:
        if record["status"] != "approved" or record["currency"] != currency:
            continue
        cents = record["amount_cents"]
        count += 1
        total += cents
        department, employee = record["department"], record["employee"]
        by_department[department] = by_department.get(department, 0) + cents
        by_employee[employee] = by_employee.get(employee, 0) + cents
        if cents > limit:
            over_limit.append(record["id"])
        if "refund" in record["note"].lower():
            flagged += 1
    ranked = sorted(by_employee.items(), key=lambda pair: (-pair[1], pair[0]))
    return {
        "date": input["date"],
        "count": count,
        "total_cents": total,
        "by_department": by_department,
        "top_spenders": [{"employee": name, "cents": cents} for name, cents in ranked[:3]],
        "over_limit": sorted(over_limit),
        "refund_notes": flagged,
    }
