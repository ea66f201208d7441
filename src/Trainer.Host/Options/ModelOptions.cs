using Microsoft.Extensions.Options;

namespace Trainer.Host.Options;

/// <summary>The "Model" configuration section: which model a job works on.</summary>
public sealed class ModelOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Model";

    /// <summary>A catalog name (fashion-cnn, resnet18, mobilenet_v2, ...); ignored when Type is set. Empty (the default): the
    /// task's own model.</summary>
    public string Name { get; set; } = "";

    /// <summary>Input shape as comma-separated sizes ("1,3,224,224"); empty = the model's default.</summary>
    public string InputShape { get; set; } = "";

    /// <summary>Path of an assembly holding a user's model class (with Type).</summary>
    public string Assembly { get; set; } = "";

    /// <summary>Full name of the user's model class in Assembly.</summary>
    public string Type { get; set; } = "";

    /// <summary>A checkpoint of `trainer train` whose weights to load (optional).</summary>
    public string Checkpoint { get; set; } = "";

    /// <summary>A compression manifest of `trainer compress` (manifest.json): rebuilds the compressed model and loads its weights.</summary>
    public string Manifest { get; set; } = "";

    /// <summary>
    /// A state_dict saved by PyTorch's <c>torch.save(model.state_dict(), file)</c> to load into the model (optional): its names
    /// must be the model's (the catalog's TorchVision models use PyTorch's). `trainer train` starts from these weights;
    /// `trainer compress` and `trainer quantize` take them as the trained model.
    /// </summary>
    public string PyTorchWeights { get; set; } = "";

    /// <summary>Parses <see cref="InputShape"/>; null when empty.</summary>
    public long[]? ParseInputShape()
    {
        if (string.IsNullOrWhiteSpace(InputShape)) return null;
        var parts = InputShape.Split(',', StringSplitOptions.TrimEntries);
        return parts.All(p => long.TryParse(p, out var d) && d > 0) ? parts.Select(long.Parse).ToArray() : null;
    }
}

/// <summary>Checks the "Model" section before any work starts.</summary>
public sealed class ModelOptionsValidator : IValidateOptions<ModelOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ModelOptions o)
    {
        var errors = new List<string>();
        if (o.PyTorchWeights.Length > 0)
        {
            if (!File.Exists(o.PyTorchWeights))
                errors.Add($"Model:PyTorchWeights = '{o.PyTorchWeights}' is not a file; accepted: a state_dict saved by torch.save " +
                           "(torch.save(model.state_dict(), 'weights.pt')).");
            foreach (var (key, value) in new[] { ("Model:Checkpoint", o.Checkpoint), ("Model:Manifest", o.Manifest) })
                if (value.Length > 0)
                    errors.Add($"Model:PyTorchWeights and {key} are both set; each brings the model's weights, so set only one.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
