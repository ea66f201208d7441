using System.Globalization;

namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>
/// Formats a double the way Python's <c>repr(float)</c> (and <c>str</c> of a numpy float64) does: the
/// shortest digits that round-trip, positional when the decimal exponent is in [-4, 16), otherwise
/// scientific with a signed two-digit exponent; a whole number keeps ".0"; NaN and infinities are
/// "nan", "inf" and "-inf". This is what NNI's CSV export writes through Python's csv module.
/// </summary>
internal static class PythonFloat
{
    public static string Repr(double value)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsPositiveInfinity(value)) return "inf";
        if (double.IsNegativeInfinity(value)) return "-inf";
        var sign = double.IsNegative(value) ? "-" : "";
        if (value == 0) return sign + "0.0";

        // .NET gives the shortest round-trip digits, e.g. "1.2345E-05" or "0.91"; reduce it to digits and exponent.
        var shortest = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        var exponentAt = shortest.IndexOf('E');
        var mantissa = exponentAt < 0 ? shortest : shortest[..exponentAt];
        var exponent = exponentAt < 0 ? 0 : int.Parse(shortest[(exponentAt + 1)..], CultureInfo.InvariantCulture);
        var point = mantissa.IndexOf('.');
        var digits = point < 0 ? mantissa : mantissa.Remove(point, 1);
        var intDigits = point < 0 ? mantissa.Length : point;
        var leadingZeros = digits.Length - digits.TrimStart('0').Length;
        digits = digits.Trim('0');
        if (digits.Length == 0) digits = "0";
        // Value = 0.<digits> × 10^decpt.
        var decpt = intDigits - leadingZeros + exponent;

        if (decpt > -4 && decpt <= 16)
        {
            if (decpt <= 0) return sign + "0." + new string('0', -decpt) + digits;
            if (decpt >= digits.Length) return sign + digits + new string('0', decpt - digits.Length) + ".0";
            return sign + digits[..decpt] + "." + digits[decpt..];
        }
        var mant = digits.Length == 1 ? digits : digits[0] + "." + digits[1..];
        var exp = decpt - 1;
        return sign + mant + "e" + (exp < 0 ? "-" : "+") + Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture);
    }

    /// <summary>Parses what Python's <c>float()</c> accepts for the values NNI writes.</summary>
    public static bool TryParse(string text, out double value)
    {
        var t = text.Trim();
        switch (t.ToLowerInvariant())
        {
            case "nan" or "+nan" or "-nan": value = double.NaN; return true;
            case "inf" or "+inf" or "infinity" or "+infinity": value = double.PositiveInfinity; return true;
            case "-inf" or "-infinity": value = double.NegativeInfinity; return true;
        }
        return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }
}
