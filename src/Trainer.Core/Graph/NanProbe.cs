using static TorchSharp.torch;

namespace Trainer.Core.Graph;

/// <summary>Writes the NaN marker into a tensor and reads back where NaN arrived.</summary>
internal static class NanProbe
{
    /// <summary>Indices along <paramref name="dim"/> where <paramref name="t"/> holds at least one NaN, ascending.</summary>
    public static long[] Positions(Tensor t, long dim)
    {
        if (!t.is_floating_point() || t.dim() == 0) return [];
        using var nan = t.isnan();
        using var any = nan.any();
        if (!any.item<bool>()) return [];
        using var moved = dim == 0 ? nan.alias() : nan.transpose(0, dim);
        using var rows = moved.reshape(t.shape[dim], -1);
        using var perIndex = rows.any(1);
        using var hits = perIndex.nonzero();
        using var flat = hits.flatten();
        return flat.data<long>().ToArray();
    }

    /// <summary>Zeros shaped like <paramref name="output"/>, with NaN in the marked channels of dimension <paramref name="dim"/>.</summary>
    public static Tensor Marker(Tensor output, long dim)
    {
        var marker = output.zeros_like();
        using var index = tensor(MarkerPattern.Channels(output.shape[dim]), device: output.device);
        marker.index_fill_(dim, index, double.NaN);
        return marker;
    }
}
