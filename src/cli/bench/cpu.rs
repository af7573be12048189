//! A guess at the CPU's fp32 multiply-accumulate peak, from /proc/cpuinfo, to say how
//! close the network comes to it.

use serde::Serialize;

#[derive(Debug, PartialEq, Serialize)]
pub struct CpuPeak {
    pub model: String,
    pub ghz: f64,
    pub fma_per_cycle: usize,
    pub gmac_per_s_per_core: f64,
}

/// Intel family-6 models whose cores have two 512-bit FMA units: Skylake-SP and Cascade
/// Lake Xeons (85; Silver, Bronze and most Gold 5xxx have one, but /proc/cpuinfo cannot
/// tell them apart and a peak must not be undercounted), Ice Lake-SP and -D (106, 108),
/// Sapphire Rapids (143), Emerald Rapids (207) and Granite Rapids (173, 174). Client
/// parts with AVX-512 (Ice Lake, Tiger Lake, Rocket Lake) have one.
const INTEL_TWO_512_BIT_FMA_MODELS: [u32; 7] = [85, 106, 108, 143, 173, 174, 207];

impl CpuPeak {
    /// This machine's (zeros where /proc/cpuinfo cannot be read).
    pub fn of_this_machine() -> CpuPeak {
        CpuPeak::from_cpuinfo(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default())
    }

    /// From the text of /proc/cpuinfo (its first processor's fields).
    pub fn from_cpuinfo(info: &str) -> CpuPeak {
        // (The first processor's: the key matched whole, as "model" is not "model name".)
        let field = |key: &str| {
            info.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        let ghz = field("cpu MHz").parse::<f64>().unwrap_or(0.0) / 1e3;
        let flags = field("flags");
        let has = |flag: &str| flags.split(' ').any(|f| f == flag);
        let vendor = field("vendor_id");
        let (family, model) = (field("cpu family"), field("model"));
        let two_512_bit_fma_units = match vendor.as_str() {
            "AuthenticAMD" => family == "26",
            "GenuineIntel" => {
                family == "6"
                    && model
                        .parse::<u32>()
                        .is_ok_and(|m| INTEL_TWO_512_BIT_FMA_MODELS.contains(&m))
            }
            _ => false,
        };
        // Two FMA pipes per core: 512 bits wide (16 fp32 lanes each) on the parts above
        // with AVX-512, 256 bits (or one 512-bit unit, or AVX-512 double-pumped as on
        // Zen 4) elsewhere; 4 lanes without FMA.
        let fma_per_cycle = match (has("avx512f") && two_512_bit_fma_units, has("fma")) {
            (true, _) => 32,
            (false, true) => 16,
            (false, false) => 4,
        };
        CpuPeak {
            model: field("model name"),
            ghz,
            fma_per_cycle,
            gmac_per_s_per_core: ghz * fma_per_cycle as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_512_bit_fma_units_do_32_fma_a_cycle_and_others_less() {
        let info_of = |vendor: &str, family: &str, model: &str, flags: &str| {
            format!(
                "processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: {family}\n\
                 model\t\t: {model}\nmodel name\t: Some CPU\ncpu MHz\t\t: 2500.000\n\
                 flags\t\t: {flags}\n"
            )
        };
        let info = |vendor: &str, family: &str, flags: &str| info_of(vendor, family, "1", flags);
        let zen5 = CpuPeak::from_cpuinfo(&info("AuthenticAMD", "26", "sse fma avx512f"));
        assert_eq!((zen5.model.as_str(), zen5.ghz), ("Some CPU", 2.5));
        assert_eq!((zen5.fma_per_cycle, zen5.gmac_per_s_per_core), (32, 80.0));
        let zen4 = CpuPeak::from_cpuinfo(&info("AuthenticAMD", "25", "fma avx512f"));
        assert_eq!(zen4.fma_per_cycle, 16);
        // Emerald Rapids (this machine's Xeon) and Sapphire Rapids: two 512-bit units.
        for model in ["207", "143"] {
            let xeon = CpuPeak::from_cpuinfo(&info_of("GenuineIntel", "6", model, "fma avx512f"));
            assert_eq!(xeon.fma_per_cycle, 32, "model {model}");
        }
        // Ice Lake client (126): one 512-bit unit; Emerald Rapids without AVX-512 (a VM
        // that hides it) runs 256-bit code.
        let client = CpuPeak::from_cpuinfo(&info_of("GenuineIntel", "6", "126", "fma avx512f"));
        assert_eq!(client.fma_per_cycle, 16);
        let hidden = CpuPeak::from_cpuinfo(&info_of("GenuineIntel", "6", "207", "fma avx2"));
        assert_eq!(hidden.fma_per_cycle, 16);
        let old = CpuPeak::from_cpuinfo(&info("GenuineIntel", "6", "sse sse2"));
        assert_eq!(old.fma_per_cycle, 4);
        assert_eq!(CpuPeak::from_cpuinfo("").gmac_per_s_per_core, 0.0);
    }
}
