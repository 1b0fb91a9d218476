use std::collections::HashSet;

use super::*;

#[test]
fn ids_and_labels_are_unique_and_references_are_jwt_authn_on_the_same_tokens() {
    let all = all();
    assert_eq!(all[0].id, BASELINE);
    assert_eq!(all[0].filter, FilterKind::None);
    let ids: HashSet<&str> = all.iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), all.len());
    let labels: HashSet<String> = all.iter().map(|s| s.label()).collect();
    assert_eq!(labels.len(), all.len());
    for s in &all {
        let Some(r) = s.reference else {
            assert!(
                !matches!(s.filter, FilterKind::Kubeplex { .. }),
                "{}: a kubeplex row needs a reference",
                s.id
            );
            continue;
        };
        let r = all.iter().find(|o| o.id == r).expect("reference exists");
        assert!(matches!(r.filter, FilterKind::JwtAuthn { .. }), "{}", s.id);
        assert_eq!(r.tokens, s.tokens, "{}: same tokens as its reference", s.id);
    }
    // the list: first sight for each algorithm, both filters
    for alg in crate::bench::keys::Alg::ALL {
        for f in [
            FilterKind::Kubeplex { policy: false },
            FilterKind::JwtAuthn { cache: false },
        ] {
            assert!(
                all.iter()
                    .any(|s| s.filter == f && s.tokens == TokenKind::FirstSight(alg)),
                "{f:?} {alg:?}"
            );
        }
    }
}

#[test]
fn selecting_keeps_the_baseline_and_references() {
    let picked: Vec<&str> = selected(&["kubeplex-first-es256".to_string()])
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        picked,
        vec![BASELINE, "kubeplex-first-es256", "jwt_authn-first-es256"]
    );
    assert_eq!(selected(&[]).len(), all().len());
    assert_eq!(
        selected(&["nonsense".to_string()])
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        vec![BASELINE]
    );
}
