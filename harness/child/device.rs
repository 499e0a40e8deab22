//! How a record names the device a cell ran on (the device itself: model/device.rs).

use crate::model::DeviceSpec;
use candle_core::Device;

/// How the record names the device that ran: `cpu`, or `cuda:N` with the GPU's name.
pub fn describe(device: &Device, spec: DeviceSpec) -> String {
    match (device, spec) {
        (Device::Cpu, _) => "cpu".into(),
        (_, DeviceSpec::Cuda(n)) => match crate::probe::gpu_name(n) {
            Some(name) => format!("cuda:{n} ({name})"),
            None => format!("cuda:{n}"),
        },
        (d, _) => format!("{d:?}").to_lowercase(),
    }
}
