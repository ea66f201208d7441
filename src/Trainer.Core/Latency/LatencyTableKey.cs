using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using TorchSharp;
using Trainer.Core.Graph;

namespace Trainer.Core.Latency;

/// <summary>
/// What a latency table is valid for: the model's layer shapes and the grid (<see cref="ModelFingerprint"/>), and the
/// machine: CPU model, thread count and TorchSharp version, and the engine the pieces were timed in. A cached table is
/// reused only when every field matches.
/// </summary>
/// <param name="Model">The model's type name (for the file name and logs only).</param>
/// <param name="ModelFingerprint">SHA-256 of the input shape, every layer's name, type and shapes, and the grid options.</param>
/// <param name="Cpu">"model name" of /proc/cpuinfo (or the processor architecture elsewhere).</param>
/// <param name="Threads">torch.get_num_threads() when measured (ONNX Runtime's intra-op threads under <see cref="LatencyEngine.OnnxRuntime"/>).</param>
/// <param name="TorchSharpVersion">Version of the TorchSharp assembly.</param>
public sealed record LatencyTableKey(string Model, string ModelFingerprint, string Cpu, int Threads, string TorchSharpVersion)
{
    /// <summary>The engine the table was timed in: "torchsharp" (also what a table cached before engines existed reads as), or
    /// "onnxruntime &lt;version&gt;".</summary>
    public string Engine { get; init; } = TorchSharpEngine;

    /// <summary><see cref="Engine"/> of tables timed in TorchSharp.</summary>
    public const string TorchSharpEngine = "torchsharp";

    /// <summary>The key for <paramref name="graph"/> of a model of type <paramref name="modelType"/> on this machine now.</summary>
    public static LatencyTableKey For(string modelType, ModelGraph graph, LatencyTableOptions options)
    {
        var text = new StringBuilder();
        text.Append("input ").AppendJoin('x', graph.InputShape).Append('\n');
        foreach (var l in graph.Layers)
            text.Append(CultureInfo.InvariantCulture,
                $"{l.Name}|{l.Type}|{l.Kind}|{string.Join('x', l.InputShape)}|{string.Join('x', l.OutputShape)}|{l.Groups}\n");
        text.Append(CultureInfo.InvariantCulture,
            $"grid floor={options.Floor:R} round={options.RoundTo} points={options.GridPoints} layout={options.Layout} quantile={options.Quantile:R}\n");
        // oneDNN and libtorch's own kernels time differently (Runtime.ConvKernels picks them per CPU).
        text.Append(Runtime.ConvKernels.UsesOneDnn ? "kernels onednn\n" : "kernels native\n");
        string engine = TorchSharpEngine;
        int threads = torch.get_num_threads();
        if (options.Engine == LatencyEngine.OnnxRuntime)
        {
            // Only this form adds a line: the fingerprints (and cached files) of TorchSharp tables stay as they were.
            engine = $"onnxruntime {OnnxRuntimeRunner.Version}";
            threads = options.EffectiveOnnxThreads;
            text.Append(CultureInfo.InvariantCulture, $"engine {engine} {OnnxRuntimeRunner.SettingsText}\n");
        }
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()))).ToLowerInvariant();
        return new LatencyTableKey(modelType, hash, CpuModel(), threads,
            typeof(torch).Assembly.GetName().Version?.ToString() ?? "unknown") { Engine = engine };
    }

    /// <summary>File name of the cached table: "&lt;model&gt;-&lt;first 16 hex of the fingerprint and machine&gt;.json".</summary>
    public string FileName()
    {
        var machine = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(
            $"{ModelFingerprint}|{Cpu}|{Threads}|{TorchSharpVersion}"))).ToLowerInvariant();
        var safe = new string(Model.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray());
        return $"{safe}-{machine[..16]}.json";
    }

    private static string CpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is int i and >= 0)
                        return line[(i + 1)..].Trim();
        }
        catch (IOException)
        {
            // Fall through to the architecture: the table then matches any CPU of that architecture.
        }
        return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }
}
