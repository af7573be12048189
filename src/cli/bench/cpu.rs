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

impl CpuPeak {
    /// This machine's (zeros where /proc/cpuinfo cannot be read).
    pub fn of_this_machine() -> CpuPeak {
        CpuPeak::from_cpuinfo(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default())
    }

    /// From the text of /proc/cpuinfo (its first processor's fields).
    pub fn from_cpuinfo(info: &str) -> CpuPeak {
        let field = |key: &str| {
            info.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let ghz = field("cpu MHz").parse::<f64>().unwrap_or(0.0) / 1e3;
        let flags = field("flags");
        let has = |flag: &str| flags.split(' ').any(|f| f == flag);
        // Two FMA pipes per core: 512 bits wide on Zen 5 (AMD family 26) with AVX-512,
        // 256 bits (or AVX-512 double-pumped, as on Zen 4) elsewhere; 4 lanes without FMA.
        let zen5 = field("vendor_id") == "AuthenticAMD" && field("cpu family") == "26";
        let fma_per_cycle = match (has("avx512f") && zen5, has("fma")) {
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
    fn zen5_with_avx512_does_32_fma_a_cycle_and_others_less() {
        let info = |vendor: &str, family: &str, flags: &str| {
            format!(
                "processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: {family}\n\
                 model name\t: Some CPU\ncpu MHz\t\t: 2500.000\nflags\t\t: {flags}\n"
            )
        };
        let zen5 = CpuPeak::from_cpuinfo(&info("AuthenticAMD", "26", "sse fma avx512f"));
        assert_eq!((zen5.model.as_str(), zen5.ghz), ("Some CPU", 2.5));
        assert_eq!((zen5.fma_per_cycle, zen5.gmac_per_s_per_core), (32, 80.0));
        let zen4 = CpuPeak::from_cpuinfo(&info("AuthenticAMD", "25", "fma avx512f"));
        assert_eq!(zen4.fma_per_cycle, 16);
        let old = CpuPeak::from_cpuinfo(&info("GenuineIntel", "6", "sse sse2"));
        assert_eq!(old.fma_per_cycle, 4);
        assert_eq!(CpuPeak::from_cpuinfo("").gmac_per_s_per_core, 0.0);
    }
}
