use super::*;

#[test]
fn percentiles_are_nearest_rank() {
    let v: Vec<u32> = (1..=100).collect();
    assert_eq!(percentile(&v, 50.0), Some(50));
    assert_eq!(percentile(&v, 99.0), Some(99));
    assert_eq!(percentile(&v, 100.0), Some(100));
    assert_eq!(percentile(&v, 0.0), Some(1));
    assert_eq!(percentile(&[7], 99.0), Some(7));
    assert_eq!(percentile(&[1, 2, 3, 1000], 99.0), Some(1000));
    assert_eq!(percentile(&[], 50.0), None);
}

#[test]
fn spread_has_median_min_max() {
    let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
    assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
    let s = Spread::of(&[4.0, 1.0, 2.0, 10.0]).unwrap();
    assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 10.0));
    assert!((s.relative_range() - 3.0).abs() < 1e-9);
    assert!(Spread::of(&[]).is_none());
}
