//! Whether one `PolicyRule` allows a request, exactly as
//! `plugin/pkg/auth/authorizer/rbac/rbac.go` `RuleAllows` decides it with
//! the helpers of `pkg/apis/rbac/v1/evaluation_helpers.go`.

use super::PolicyRule;
use crate::apiserver::authz::Attributes;

/// `rbacv1.VerbAll`, `APIGroupAll`, `ResourceAll`, `NonResourceAll`.
const ALL: &str = "*";

/// `VerbMatches`: `*` or the exact verb.
fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == ALL || v == verb)
}

/// `APIGroupMatches`: `*` or the exact group. An empty list matches
/// nothing (not even the core group `""`).
fn api_group_matches(rule: &PolicyRule, group: &str) -> bool {
    rule.api_groups.iter().any(|g| g == ALL || g == group)
}

/// `ResourceMatches`: `*`, the exact `resource[/subresource]`, or
/// `*/<subresource>` when the request has that subresource. Nothing else
/// is a wildcard: `pods/*` and `userextras/*` are literal strings (they
/// match only a request whose subresource is the string `*`).
fn resource_matches(rule: &PolicyRule, combined: &str, subresource: &str) -> bool {
    rule.resources.iter().any(|r| {
        if r == ALL || r == combined {
            return true;
        }
        // Upstream: len(rule) == len(sub)+2 && HasPrefix("*/") && HasSuffix(sub).
        !subresource.is_empty()
            && r.len() == subresource.len() + 2
            && r.starts_with("*/")
            && r.ends_with(subresource)
    })
}

/// `ResourceNameMatches`: an empty list allows every name (also the empty
/// name of a list or create); otherwise the exact name.
fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    rule.resource_names.is_empty() || rule.resource_names.iter().any(|n| n == name)
}

/// `NonResourceURLMatches`: `*`, the exact path, or a rule ending in `*`
/// whose part before the (trailing) stars prefixes the path.
fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    rule.non_resource_urls.iter().any(|u| {
        u == ALL
            || u == path
            // strings.TrimRight(ruleURL, "*"): every trailing star goes.
            || (u.ends_with('*') && path.starts_with(u.trim_end_matches('*')))
    })
}

/// `RuleAllows`: resource requests check verb, API group, resource and
/// name (never `nonResourceURLs`); non-resource requests check verb and
/// URL only (never groups or resources).
pub fn rule_allows(a: &Attributes<'_>, rule: &PolicyRule) -> bool {
    if a.is_resource {
        let combined = if a.subresource.is_empty() {
            a.resource.to_string()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        return verb_matches(rule, a.verb)
            && api_group_matches(rule, a.api_group)
            && resource_matches(rule, &combined, a.subresource)
            && resource_name_matches(rule, a.name);
    }
    verb_matches(rule, a.verb) && non_resource_url_matches(rule, a.path)
}
