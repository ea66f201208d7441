using Microsoft.Extensions.Options;

namespace Trainer.Host.Options;

/// <summary>The "Quantization" configuration section: which quantizer `trainer quantize` runs and how it finetunes.
/// Quantizer plugins load through Compression:Plugins like compressors.</summary>
public sealed class QuantizationOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Quantization";

    /// <summary>Name of the quantizer (a loaded plugin's <c>IQuantizer.Name</c>: naive, observer, qat, dorefa, bnn, lsq).</summary>
    public string Quantizer { get; set; } = "";

    /// <summary>Finetuning epochs for quantizers that train (QAT, DoReFa, BNN, LSQ); 0 = none.</summary>
    public int FinetuneEpochs { get; set; } = 1;

    /// <summary>Finetuning learning rate; 0 = a tenth of Trainer:LearningRate.</summary>
    public double FinetuneLearningRate { get; set; }

    /// <summary>Largest output difference tolerated between the exported file reloaded and the simulated model.</summary>
    public double ReloadTolerance { get; set; } = 1e-5;

    /// <summary>Settings handed to the configured quantizer as they are (plugins/README.md lists the keys), over those of its
    /// own section in <see cref="Quantizers"/>.</summary>
    public Dictionary<string, string> Settings { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Each quantizer's own settings, by quantizer name: only the configured quantizer's section is handed over.</summary>
    public Dictionary<string, Dictionary<string, string>> Quantizers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The settings the configured quantizer gets: its section of <see cref="Quantizers"/>, then <see cref="Settings"/>.</summary>
    public IReadOnlyDictionary<string, string> EffectiveSettings => PluginSettings.Merge(Quantizers, Quantizer, Settings);
}

/// <summary>Checks the "Quantization" section before any work starts.</summary>
public sealed class QuantizationOptionsValidator : IValidateOptions<QuantizationOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, QuantizationOptions o)
    {
        var errors = new List<string>();
        if (o.FinetuneEpochs < 0)
            errors.Add($"Quantization:FinetuneEpochs = {o.FinetuneEpochs} is invalid; accepted: 0 or more epochs.");
        if (o.FinetuneLearningRate < 0 || double.IsNaN(o.FinetuneLearningRate))
            errors.Add($"Quantization:FinetuneLearningRate = {o.FinetuneLearningRate} is invalid; accepted: a positive rate, or 0 for a tenth of Trainer:LearningRate.");
        if (!(o.ReloadTolerance > 0))
            errors.Add($"Quantization:ReloadTolerance = {o.ReloadTolerance} is invalid; accepted: a positive difference, e.g. 1e-5.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
