using System.Reflection;
using TorchSharp.Modules;

namespace Trainer.Core.Pruning;

/// <summary>
/// Sets the size fields TorchSharp keeps next to a layer's tensors, which go stale when the tensors are
/// sliced: Convolution's get-only <c>in_channels</c>/<c>out_channels</c> (through their compiler-generated
/// backing fields) and <c>groups</c>, NormBase's <c>num_features</c>, Linear's <c>in_features</c>/<c>out_features</c>.
/// Conv2d's forward checks its input against <c>in_channels</c>, so a shrunk conv fails without this.
/// </summary>
internal static class SizeFields
{
    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;

    private static readonly FieldInfo ConvIn = Backing(typeof(Convolution), "in_channels");
    private static readonly FieldInfo ConvOut = Backing(typeof(Convolution), "out_channels");
    private static readonly FieldInfo NormFeatures = Backing(typeof(NormBase), "num_features");

    /// <summary>Sets a convolution's channel counts and group count.</summary>
    public static void SetConv(Convolution conv, long inChannels, long outChannels, long groups)
    {
        ConvIn.SetValue(conv, inChannels);
        ConvOut.SetValue(conv, outChannels);
        conv.groups = groups;
    }

    /// <summary>Sets a Linear layer's feature counts.</summary>
    public static void SetLinear(Linear linear, long inFeatures, long outFeatures)
    {
        linear.in_features = inFeatures;
        linear.out_features = outFeatures;
    }

    /// <summary>Sets a BatchNorm/InstanceNorm layer's feature count.</summary>
    public static void SetNorm(NormBase norm, long features) => NormFeatures.SetValue(norm, features);

    private static FieldInfo Backing(Type type, string property) =>
        type.GetField($"<{property}>k__BackingField", Instance)
        ?? throw new MissingFieldException(type.FullName, $"<{property}>k__BackingField (TorchSharp version changed?)");
}
