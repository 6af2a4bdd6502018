use super::*;

#[test]
fn cursors_round_trip_and_garbage_is_refused() {
    let cursor = encode_cursor(1_700_000_000_000_000_000, 42);
    assert_eq!(decode_cursor(&cursor).unwrap(), (1_700_000_000_000_000_000, 42));
    for bad in ["", "!!", "bm90IGEgY3Vyc29y"] {
        assert!(
            matches!(decode_cursor(bad), Err(HistoryError::Invalid(_))),
            "{bad}"
        );
    }
}

#[test]
fn bbox_is_west_south_east_north() {
    let b = BBox::parse("2.2, 48.8,2.5,48.9").unwrap();
    assert_eq!((b.west, b.south, b.east, b.north), (2.2, 48.8, 2.5, 48.9));
    assert!(BBox::parse("179,-10,-179,10").is_ok(), "across the antimeridian");
    for bad in ["1,2,3", "0,50,1,40", "0,0,200,1", "a,b,c,d"] {
        assert!(BBox::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn wire_names_round_trip() {
    use crate::events::{HealthStatus, ReceiverStatus};
    assert_eq!(wire_name(&ReceiverStatus::Degraded), "degraded");
    assert_eq!(
        parse_wire::<HealthStatus>("unhealthy", "x").unwrap(),
        HealthStatus::Unhealthy
    );
    assert!(parse_wire::<HealthStatus>("sick", "x").is_err());
    assert_eq!(
        method_name(LocalizationMethod::Tdoa),
        wire_name(&LocalizationMethod::Tdoa)
    );
}
