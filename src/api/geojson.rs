//! Stored localizations as GeoJSON (RFC 7946): a FeatureCollection of Points, so a fix history
//! drops onto any map (Leaflet, QGIS, geojson.io) as it is.

use crate::events::history::LocalizationHistory;
use serde_json::{json, Value};

/// The fixes as a FeatureCollection: each a Feature with the fix's id, a Point at
/// `[longitude, latitude]` and as properties every other field of the JSON answer (`id`,
/// `history_id`, `signal_id`, `method`, `timestamp`, `uncertainty_m`, `confidence`, `ellipse`,
/// `receivers`, `excluded`, `gdop`, `frequency_hz`, `note`). `truncated` is a foreign member
/// (RFC 7946 §6.1): more fixes matched than `limit`.
pub fn localizations(history: &LocalizationHistory) -> Value {
    let features: Vec<Value> = history
        .localizations
        .iter()
        .map(|fix| {
            let mut properties = serde_json::to_value(fix).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut properties {
                map.remove("latitude");
                map.remove("longitude");
            }
            json!({
                "type": "Feature",
                "id": fix.id,
                "geometry": {
                    "type": "Point",
                    "coordinates": [fix.localization.longitude, fix.localization.latitude],
                },
                "properties": properties,
            })
        })
        .collect();
    json!({
        "type": "FeatureCollection",
        "features": features,
        "truncated": history.truncated,
    })
}
