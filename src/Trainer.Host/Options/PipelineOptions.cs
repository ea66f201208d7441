using Microsoft.Extensions.Options;

namespace Trainer.Host.Options;

/// <summary>The "Pipeline" configuration section: the stages `trainer run` runs, in order, in one run folder.</summary>
public sealed class PipelineOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Pipeline";

    /// <summary>Stages `trainer run` knows, in the only order they can run.</summary>
    public static readonly IReadOnlyList<string> KnownStages = ["train", "compress", "export", "quantize"];

    /// <summary>Stages to run, e.g. ["train", "compress", "export"]; empty runs ["train"]. Compress finetunes after each step and
    /// reports at the end; export and quantize each start from the compressed model (or the trained one).</summary>
    /// <remarks>Empty by default: the configuration binder appends to a list's initial items instead of replacing them.</remarks>
    public List<string> Stages { get; set; } = [];

    /// <summary>The stages to run: <see cref="Stages"/>, or ["train"] when none are configured.</summary>
    public IReadOnlyList<string> EffectiveStages => Stages.Count > 0 ? Stages : ["train"];
}

/// <summary>Checks the "Pipeline" section before any work starts.</summary>
public sealed class PipelineOptionsValidator : IValidateOptions<PipelineOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, PipelineOptions o)
    {
        var errors = new List<string>();
        for (var i = 0; i < o.Stages.Count; i++)
            if (!PipelineOptions.KnownStages.Contains(o.Stages[i]))
                errors.Add($"Pipeline:Stages:{i} = '{o.Stages[i]}' is not a stage; accepted: {string.Join(", ", PipelineOptions.KnownStages)}.");
        var order = o.Stages.Select(s => PipelineOptions.KnownStages.ToList().IndexOf(s)).Where(i => i >= 0).ToList();
        if (errors.Count == 0 && (order.Distinct().Count() != order.Count || !order.SequenceEqual(order.Order())))
            errors.Add($"Pipeline:Stages = [{string.Join(", ", o.Stages)}] is out of order or repeats a stage; accepted order: " +
                       $"{string.Join(" → ", PipelineOptions.KnownStages)}.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
