using Microsoft.Extensions.Options;

namespace Trainer.Host.Options;

/// <summary>The "Predict" configuration section: what `trainer predict` runs in ONNX Runtime and on what.</summary>
public sealed class PredictOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Predict";

    /// <summary>The ONNX file to run. Empty (the default): the export of the run named by Trainer:RunName, or of the newest run
    /// that has one (&lt;CheckpointDir&gt;/&lt;run&gt;/export/model.onnx).</summary>
    public string Onnx { get; set; } = "";

    /// <summary>A folder of images (PNG, JPEG; sub-folders included) to classify instead of scoring the validation data: each
    /// image's top class is printed. Image tasks only (cifar10-binary, image-folder).</summary>
    public string Images { get; set; } = "";

    /// <summary>Validation samples to score (the first ones); 0 (the default): all of them.</summary>
    public int Samples { get; set; }

    /// <summary>Batch size for scoring and for the batch-N latency.</summary>
    public int BatchSize { get; set; } = 64;

    /// <summary>ONNX Runtime's intra-op threads (its pool never spins).</summary>
    public int Threads { get; set; } = 1;

    /// <summary>Timed rounds of each latency (median reported).</summary>
    public int LatencyRounds { get; set; } = 20;
}

/// <summary>Checks the "Predict" section before any work starts.</summary>
public sealed class PredictOptionsValidator : IValidateOptions<PredictOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, PredictOptions o)
    {
        var errors = new List<string>();
        if (o.Samples < 0) errors.Add($"Predict:Samples = '{o.Samples}' is invalid; accepted: 0 (all validation samples) or a positive integer.");
        foreach (var (key, value) in new[] { ("BatchSize", o.BatchSize), ("Threads", o.Threads), ("LatencyRounds", o.LatencyRounds) })
            if (value < 1) errors.Add($"Predict:{key} = '{value}' is invalid; accepted: a positive integer.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
