// Package runbook reads and checks SSM Automation documents of schema 0.3
// (AWS Incident Manager's runbooks) and decides what their steps mean. It
// is pure: no clock, no storage, no network, no YAML (the caller decodes
// YAML into a map and calls FromMap, or passes JSON to Parse).
//
// # Rules
//
//   - Parse refuses unknown keys; assumeRole and files are accepted and
//     ignored, so AWS documents load unchanged.
//   - Validate returns every problem with its path: schemaVersion "0.3";
//     unique step names (letters, digits, _); nextStep, onFailure step:X,
//     onCancel step:X, branch NextStep and Default name existing steps;
//     branch operators are StringEquals, EqualsIgnoreCase, StartsWith,
//     EndsWith, Contains, Numeric{Equals,Greater,Lesser,GreaterOrEquals,
//     LesserOrEquals}, BooleanEquals, And, Or, Not; parameter types and
//     defaults match (type, allowedValues, allowedPattern, min/max items
//     and chars); only the actions in Actions are run, any other is refused
//     naming its step; aws:sleep takes an ISO 8601 Duration of at most 7
//     days or an RFC 3339 Timestamp. Values holding {{ }} are checked when
//     the execution runs, not at apply.
//   - Params types an execution's parameters and applies defaults.
//   - Interpolate replaces {{ name }} in one pass: substituted values are
//     data and never expanded again.
//   - EvalBranch: the first choice that holds wins, else Default, else ""
//     (the next step).
package runbook
