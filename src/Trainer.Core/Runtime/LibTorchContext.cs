using System.Runtime.InteropServices;

namespace Trainer.Core.Runtime;

/// <summary>
/// The few switches of libtorch's global context (<c>at::globalContext()</c>) that PyTorch exposes as
/// <c>torch.backends.nnpack.set_flags</c> and <c>torch.backends.mkldnn.set_flags</c> and TorchSharp 0.107 does not: read
/// and set through libtorch_cpu's exported C++ symbols (Itanium ABI: the context is the first argument).
/// </summary>
internal static class LibTorchContext
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr GlobalContextFn();
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void SetFlagFn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    [return: MarshalAs(UnmanagedType.U1)]
    private delegate bool GetFlagFn(IntPtr context);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int NnpInitializeFn();

    private static readonly Lazy<IntPtr> Library = new(Load);

    /// <summary>NNPACK's own initialisation (status 0 = supported); null where libtorch has no NNPACK.</summary>
    public static int? NnpackStatus() =>
        TryExport("nnp_initialize", out var f) ? Marshal.GetDelegateForFunctionPointer<NnpInitializeFn>(f)() : null;

    /// <summary>Sets <c>at::Context::setUserEnabledNNPACK</c>; false where the symbol is missing.</summary>
    public static bool SetNnpackEnabled(bool enabled) => SetFlag("_ZN2at7Context20setUserEnabledNNPACKEb", enabled);

    /// <summary>Sets <c>at::Context::setUserEnabledMkldnn</c> (oneDNN); false where the symbol is missing.</summary>
    public static bool SetOneDnnEnabled(bool enabled) => SetFlag("_ZN2at7Context20setUserEnabledMkldnnEb", enabled);

    /// <summary><c>at::Context::userEnabledMkldnn</c>; null where the symbol is missing.</summary>
    public static bool? OneDnnEnabled() =>
        TryExport("_ZNK2at7Context17userEnabledMkldnnEv", out var get) && Context() is { } context
            ? Marshal.GetDelegateForFunctionPointer<GetFlagFn>(get)(context)
            : null;

    private static bool SetFlag(string symbol, bool enabled)
    {
        if (!TryExport(symbol, out var set) || Context() is not { } context) return false;
        Marshal.GetDelegateForFunctionPointer<SetFlagFn>(set)(context, enabled);
        return true;
    }

    private static IntPtr? Context() =>
        TryExport("_ZN2at13globalContextEv", out var f) ? Marshal.GetDelegateForFunctionPointer<GlobalContextFn>(f)() : null;

    private static bool TryExport(string symbol, out IntPtr address)
    {
        address = IntPtr.Zero;
        return Library.Value != IntPtr.Zero && NativeLibrary.TryGetExport(Library.Value, symbol, out address);
    }

    private static IntPtr Load()
    {
        // Loads libtorch through TorchSharp's own resolution; afterwards libtorch_cpu is mapped in this process.
        TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType.CPU);
        string name = OperatingSystem.IsWindows() ? "torch_cpu.dll" : OperatingSystem.IsMacOS() ? "libtorch_cpu.dylib" : "libtorch_cpu.so";
        // The loader matches an already-loaded library by its name, so this returns TorchSharp's copy.
        if (NativeLibrary.TryLoad(name, out var library)) return library;
        if (!OperatingSystem.IsLinux()) return IntPtr.Zero;
        var path = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries))
            .Where(p => p.Length == 6 && p[5].EndsWith("/" + name, StringComparison.Ordinal)).Select(p => p[5]).FirstOrDefault();
        return path is not null && NativeLibrary.TryLoad(path, out library) ? library : IntPtr.Zero;
    }
}
