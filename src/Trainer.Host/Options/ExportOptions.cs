using Microsoft.Extensions.Options;

namespace Trainer.Host.Options;

/// <summary>The "Export" configuration section: what `trainer export` (and the pipeline's export stage) writes.</summary>
public sealed class ExportOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Export";

    /// <summary>Accepted values of <see cref="Format"/>.</summary>
    public static IReadOnlyList<string> Formats { get; } = ["inference-form", "onnx"];

    /// <summary>"inference-form": the folded, re-laid-out model as a manifest TorchSharp reloads; "onnx": that too, and the same
    /// model as model.onnx (opset 17, dynamic batch) checked in ONNX Runtime against TorchSharp. `trainer quantize` with "onnx" also
    /// writes its quantized model as ONNX QDQ (model.int8.onnx next to quantized.trnq) and scores it in ONNX Runtime.</summary>
    public string Format { get; set; } = "inference-form";

    /// <summary>ONNX Runtime's intra-op threads for the check (its thread pool does not spin).</summary>
    public int OnnxThreads { get; set; } = 1;

    /// <summary>The first this many validation samples of the task are run through TorchSharp and ONNX Runtime: outputs compared
    /// (within 1e-4) and the task's score computed from each.</summary>
    public int OnnxCheckSamples { get; set; } = 512;

    /// <summary>Whether the ONNX file is written.</summary>
    public bool WritesOnnx => string.Equals(Format, "onnx", StringComparison.OrdinalIgnoreCase);
}

/// <summary>Checks the "Export" section before any work starts.</summary>
public sealed class ExportOptionsValidator : IValidateOptions<ExportOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ExportOptions o)
    {
        var errors = new List<string>();
        if (!ExportOptions.Formats.Contains(o.Format, StringComparer.OrdinalIgnoreCase))
            errors.Add($"Export:Format = '{o.Format}' is invalid; accepted: {string.Join(", ", ExportOptions.Formats)}.");
        if (o.OnnxThreads < 1)
            errors.Add($"Export:OnnxThreads = '{o.OnnxThreads}' is invalid; accepted: a positive integer.");
        if (o.OnnxCheckSamples < 1)
            errors.Add($"Export:OnnxCheckSamples = '{o.OnnxCheckSamples}' is invalid; accepted: a positive integer (validation samples to check on).");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
