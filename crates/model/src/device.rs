//! Choosing where a model runs: CPU by default, CUDA or Metal when built in and present,
//! and a clear message plus a CPU fallback when they are not.

use std::str::FromStr;

use candle_core::Device;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA or Metal when this build has them and a device answers; otherwise the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
    Metal,
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            "metal" => Ok(DeviceChoice::Metal),
            _ => match s.strip_prefix("cuda:").map(str::parse) {
                Some(Ok(i)) => Ok(DeviceChoice::Cuda(i)),
                _ => Err(format!("unknown device `{s}` (expected auto, cpu, cuda, cuda:N or metal)")),
            },
        }
    }
}

/// The device to use, and a warning when the one asked for could not be had.
pub fn select(choice: DeviceChoice) -> (Device, Option<String>) {
    match choice {
        DeviceChoice::Cpu => (Device::Cpu, None),
        DeviceChoice::Auto => {
            if cfg!(feature = "cuda") {
                if let Ok(d) = open_cuda(0) {
                    return (d, None);
                }
            }
            if cfg!(feature = "metal") {
                if let Ok(d) = open_metal() {
                    return (d, None);
                }
            }
            (Device::Cpu, None)
        }
        DeviceChoice::Cuda(i) => match open_cuda(i) {
            Ok(d) => (d, None),
            Err(why) => (Device::Cpu, Some(format!("CUDA device {i} unavailable ({why}); running on the CPU"))),
        },
        DeviceChoice::Metal => match open_metal() {
            Ok(d) => (d, None),
            Err(why) => (Device::Cpu, Some(format!("Metal unavailable ({why}); running on the CPU"))),
        },
    }
}

/// Sets candle's CPU thread count to `requested` (default: candle's own choice, every physical
/// core, unless `CANDLE_NUM_THREADS` or `RAYON_NUM_THREADS` is set). Takes effect only before the
/// first tensor operation of the process. On a quiet 2-core machine two threads decode the tiny
/// Q8_0 model 1.8x faster than one (BENCHMARKS.md), so there is no size-based shortcut.
pub fn configure_cpu_threads(requested: Option<usize>) {
    if let Some(n) = requested {
        std::env::set_var("CANDLE_NUM_THREADS", n.max(1).to_string());
        std::env::set_var("RAYON_NUM_THREADS", n.max(1).to_string());
    }
}

pub fn cpu_threads() -> usize {
    candle_core::utils::get_num_threads()
}

pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => format!("cpu ({} threads)", cpu_threads()),
        Device::Cuda(_) => "cuda".to_string(),
        Device::Metal(_) => "metal".to_string(),
    }
}

fn open_cuda(ordinal: usize) -> Result<Device, String> {
    if !cfg!(feature = "cuda") {
        return Err("this build has no CUDA support; rebuild with `--features cuda`".into());
    }
    // A missing driver library can panic inside the bindings; it must not take the daemon down.
    match std::panic::catch_unwind(|| Device::new_cuda(ordinal)) {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(e.to_string().lines().next().unwrap_or("").to_string()),
        Err(_) => Err("the CUDA driver could not be loaded".into()),
    }
}

fn open_metal() -> Result<Device, String> {
    if !cfg!(feature = "metal") {
        return Err("this build has no Metal support; rebuild with `--features metal`".into());
    }
    match std::panic::catch_unwind(|| Device::new_metal(0)) {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(e.to_string().lines().next().unwrap_or("").to_string()),
        Err(_) => Err("Metal could not be initialised".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_choices_and_falls_back_to_cpu() {
        assert_eq!("cuda:1".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(1)));
        assert!("tpu".parse::<DeviceChoice>().is_err());
        if !cfg!(feature = "cuda") {
            let (device, warning) = select(DeviceChoice::Cuda(0));
            assert!(device.is_cpu());
            assert!(warning.unwrap().contains("--features cuda"));
        }
    }
}
