//! Which SoapySDR drivers are installed, from the library's module loader.
//!
//! When `Device::new` finds nothing, SoapySDR says only "no match". Whether the driver is
//! missing (a configuration error: install a module or fix the name) or the device is absent
//! (unplugged: worth retrying) decides how sdrhub reports it, and only the loader knows which
//! drivers the installed modules registered. The safe `soapysdr` crate does not expose it, so
//! this is the one place that calls the C API directly.

use std::ffi::CStr;

/// Names of the drivers the installed modules registered (e.g. `redpitaya`, `rtlsdr`), sorted,
/// plus SoapySDR's built-in `null` device.
pub fn installed_drivers() -> Vec<String> {
    let mut names = vec!["null".to_owned()];
    // SAFETY: these are the documented C calls with their documented ownership:
    // `SoapySDR_loadModules` is idempotent and locks the loader; `SoapySDR_listModules` returns
    // `length` owned C strings, freed once with `SoapySDRStrings_clear`; each path is a valid
    // NUL-terminated string while the list lives; `SoapySDR_getLoaderResult` returns an owned
    // kwargs list, whose ownership `Args::from_raw` takes (it is freed on drop).
    unsafe {
        soapysdr_sys::SoapySDR_loadModules();
        let mut length = 0usize;
        let mut paths = soapysdr_sys::SoapySDR_listModules(&mut length);
        if !paths.is_null() {
            for &path in std::slice::from_raw_parts(paths, length) {
                if path.is_null() {
                    continue;
                }
                let result = soapysdr::Args::from_raw(soapysdr_sys::SoapySDR_getLoaderResult(path));
                for (name, error) in result.iter() {
                    if error.is_empty() {
                        names.push(name.to_owned());
                    } else {
                        tracing::debug!(
                            module = %CStr::from_ptr(path).to_string_lossy(),
                            name,
                            error,
                            "SoapySDR module failed to register"
                        );
                    }
                }
            }
            soapysdr_sys::SoapySDRStrings_clear(&mut paths, length);
        }
    }
    names.sort();
    names.dedup();
    names
}
