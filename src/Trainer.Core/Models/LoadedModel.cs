using Trainer.Core.Compression;
using TorchSharp;

namespace Trainer.Core.Models;

/// <summary>A model a job works on, with its input shape, a name for files and tables, and how to build its architecture afresh.</summary>
/// <param name="Name">Catalog name or the user's class name.</param>
/// <param name="Network">The model, with the configured weights loaded.</param>
/// <param name="InputShape">Example input shape, batch included.</param>
/// <param name="Identity">What a compression manifest records about the architecture.</param>
/// <param name="Create">Builds a new instance of the original (uncompressed) architecture with fresh weights.</param>
/// <param name="Manifest">The compression manifest the model was rebuilt from, when Model:Manifest was set.</param>
public sealed record LoadedModel(string Name, torch.nn.Module<torch.Tensor, torch.Tensor> Network, long[] InputShape,
    ModelIdentity Identity, Func<torch.nn.Module<torch.Tensor, torch.Tensor>> Create, CompressionManifest? Manifest = null)
{
    /// <summary>
    /// A fresh model of <paramref name="create"/> for code that trains and compresses it itself. A catalog name
    /// (<see cref="ModelCatalog.Names"/>) is recorded as such; any other model by its class and assembly, so that the host
    /// (Model:Type, Model:Assembly) rebuilds it from a manifest too. GroupNorm layers start at weight 1, bias 0
    /// (<see cref="GroupNormDefaults"/>).
    /// </summary>
    public static LoadedModel Of(string name, Func<torch.nn.Module<torch.Tensor, torch.Tensor>> create, long[] inputShape)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(create);
        ArgumentNullException.ThrowIfNull(inputShape);
        create = GroupNormDefaults.Wrap(create);
        var network = create();
        var type = network.GetType();
        var identity = ModelCatalog.Names.Contains(name, StringComparer.OrdinalIgnoreCase)
            ? new ModelIdentity(name, "", "", inputShape)
            : new ModelIdentity(name, type.FullName ?? type.Name, type.Assembly.Location, inputShape);
        return new LoadedModel(name, network, inputShape, identity, create);
    }
}
